"""Invitations and reminders by e-mail: one message per invitee, plain text plus HTML.

Delivery is the alerts' e-mail notifier (SMTP, STARTTLS or SSL, bounded retries), given an
``EmailTarget`` built from the command's SMTP options. Each invitee gets a fresh link in each
message: tokens are stored hashed, so a link can only be sent at the moment it is made; a
reminder's link replaces the one sent before (which then stops working).
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from email.message import EmailMessage

from dipstick.alerts.notifiers import DeliveryError, EmailNotifier
from dipstick.model.alerts import EmailTarget
from dipstick.pulse.campaigns import Campaign, reissue, unanswered, unmark_sent
from dipstick.store import Store


def link_url(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/p/{token}"


@dataclass
class MailReport:
    sent: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


class Mailer:
    """Sends one pulse e-mail at a time through the configured SMTP server."""

    def __init__(self, target: EmailTarget, password: str | None = None) -> None:
        self.target = target
        self.notifier = EmailNotifier(target, password)

    def send(self, to: str, subject: str, text: str, html_body: str) -> None:
        mail = EmailMessage()
        mail["Subject"] = subject
        mail["From"] = self.target.sender
        mail["To"] = to
        mail.set_content(text)
        mail.add_alternative(html_body, subtype="html")
        self.notifier.send_mail(mail)


def message(campaign: Campaign, group: str, url: str, *, reminder: bool,
            sender_name: str) -> tuple[str, str, str]:
    """Subject, text and HTML of an invitation (or reminder); every value escaped in HTML."""
    service, gname = campaign.service_name, campaign.group_name(group)
    closes = f" It closes on {campaign.closes_on}." if campaign.closes_on else ""
    subject = (f"{'Reminder: ' if reminder else ''}60 seconds on {service}? "
               f"How much value do you get from it?")
    lead = ("A short reminder: we have not heard from you yet." if reminder else
            f"{sender_name} asks {gname} how much value {service} gives you.")
    text = (f"{lead}\n\nAnswer in about 60 seconds, no account needed:\n{url}\n\n"
            f"Your answer is anonymous: results are shown per group only from 5 answers up, "
            f"and your comment is kept without your name.{closes}\n\n"
            "This link is yours: it works once.\n")
    e = html.escape
    body = (f"<html><body><p>{e(lead)}</p>"
            f"<p><a href=\"{e(url)}\">Answer in about 60 seconds</a> (no account needed)</p>"
            f"<p>Your answer is anonymous: results are shown per group only from 5 answers "
            f"up, and your comment is kept without your name.{e(closes)}</p>"
            f"<p style=\"color:#777\">This link is yours: it works once. {e(url)}</p>"
            "</body></html>")
    return subject, text, body


def send_invitations(store: Store, campaign: Campaign, mailer: Mailer, base_url: str, *,
                     reminder: bool, sender_name: str = "Your IT team") -> MailReport:
    """Invitations to every invitee not yet mailed (or, as reminders, to every invitee who
    has not answered). A failed delivery is reported; the next run tries again."""
    report = MailReport()
    for inv_id, email, group in unanswered(store, campaign.id, unsent_only=not reminder):
        token = reissue(store, inv_id, reminder=reminder)
        if token is None:      # answered meanwhile
            continue
        subject, text, body = message(campaign, group, link_url(base_url, token),
                                      reminder=reminder, sender_name=sender_name)
        try:
            mailer.send(email, subject, text, body)
        except DeliveryError as e:
            report.failed.append(f"{email}: {e}")
            if not reminder:
                unmark_sent(store, inv_id)
        else:
            report.sent.append(email)
    return report
