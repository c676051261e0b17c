"""Delivery to receivers: one small class per target type behind one interface.

Every notifier has the same contract: ``send(message)`` returns once the receiver accepted the
alert, or raises :class:`DeliveryError` after ``attempts`` tries with the shared retry policy
(:mod:`dipstick.retries`: exponential backoff, the receiver's ``Retry-After`` on 429 and 503
up to :data:`MAX_WAIT_S`), each bounded by ``timeout_s``, so a dead or hanging receiver costs a
check at most about ``attempts × timeout_s + backoff`` seconds (a throttling one adds what it
asks for, at most ``MAX_WAIT_S`` per try). Secrets are read from the environment only here,
when notifiers are built for a run.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Callable, Mapping
from email.message import EmailMessage
from functools import partial
from typing import Any, Protocol

import httpx

from dipstick.alerts.messages import (
    Message,
    email_parts,
    slack_payload,
    teams_payload,
    webhook_payload,
)
from dipstick.errors import UsageError
from dipstick.model.alerts import AlertTarget, EmailTarget, TeamsTarget
from dipstick.retries import GaveUp, Retry, RetryPolicy, retry_after
from dipstick.retries import call as call_with_retries

MAX_WAIT_S = 60.0
"""The longest ``Retry-After`` a notifier waits for within a check; a receiver asking for more
keeps the delivery pending for the next run instead of holding the check."""


class DeliveryError(Exception):
    """The receiver did not take the alert after every attempt; the delivery stays pending."""


class Notifier(Protocol):
    key: str
    kind: str

    def send(self, message: Message) -> None: ...


class _Retrying:
    """Tries ``attempt()`` with the target's policy: ``attempts`` tries, waiting ``backoff_s``,
    then double that, or as long as the receiver's ``Retry-After`` says."""

    def __init__(self, target: AlertTarget) -> None:
        self.key: str = target.key
        self.kind: str = target.type
        self.timeout_s = target.timeout_s
        self.policy = RetryPolicy(attempts=target.attempts, backoff=target.backoff_s,
                                  max_backoff=float("inf"), max_wait=MAX_WAIT_S,
                                  timeout=target.timeout_s)

    def _retry(self, attempt: Callable[[], None]) -> None:
        tries = 0

        def counted() -> None:
            nonlocal tries
            tries += 1
            attempt()

        try:
            call_with_retries(self.policy, counted,
                              also_on=(OSError, httpx.HTTPError, smtplib.SMTPException))
        except GaveUp as e:
            last = _describe(e.last)
            if e.too_long is not None:
                last += f" (asked to wait {e.too_long:.0f} s, more than {MAX_WAIT_S:.0f} s)"
            raise DeliveryError(f"{e.attempts} attempt(s) failed, last: {last}") from None
        except _Permanent as e:
            raise DeliveryError(f"{tries} attempt(s) failed, last: {e}") from None


class _Permanent(Exception):
    """Not worth another try in this run (a 4xx answer); still kept pending for the next."""


def _describe(e: BaseException) -> str:
    if isinstance(e, Retry):
        return e.reason
    if isinstance(e, httpx.TimeoutException):
        return f"timed out ({type(e).__name__})"
    return f"{type(e).__name__}: {e}" if str(e) else type(e).__name__


class HttpNotifier(_Retrying):
    """POSTs a JSON payload; any 2xx answer counts as delivered."""

    def __init__(self, target: AlertTarget, url: str,
                 payload: Callable[[Message], dict[str, Any]]) -> None:
        super().__init__(target)
        self.url = url
        self.payload = payload

    def send(self, message: Message) -> None:
        body = self.payload(message)
        with httpx.Client(timeout=self.timeout_s, follow_redirects=False) as client:
            def attempt() -> None:
                r = client.post(self.url, json=body,
                                headers={"User-Agent": "dipstick-alerts"})
                if r.is_success:
                    return
                why = f"HTTP {r.status_code} {r.reason_phrase}: {r.text[:200]}".strip()
                if r.status_code == 429 or r.status_code >= 500:
                    raise Retry(why, retry_after(r.status_code, r.headers))
                raise _Permanent(why)

            self._retry(attempt)


class EmailNotifier(_Retrying):
    """Sends a multipart (plain text + HTML) e-mail through SMTP, STARTTLS or SSL."""

    def __init__(self, target: EmailTarget, password: str | None) -> None:
        super().__init__(target)
        self.target = target
        self.password = password

    def send(self, message: Message) -> None:
        subject, text, html_body = email_parts(message)
        mail = EmailMessage()
        mail["Subject"] = subject
        mail["From"] = self.target.sender
        mail["To"] = ", ".join(self.target.to)
        mail.set_content(text)
        mail.add_alternative(html_body, subtype="html")
        self.send_mail(mail)

    def send_mail(self, mail: EmailMessage) -> None:
        """Any message over this target's server, with its retries (pulse invitations too)."""
        self._retry(lambda: self._deliver(mail))

    def _deliver(self, mail: EmailMessage) -> None:
        t = self.target
        context = ssl.create_default_context()
        smtp: smtplib.SMTP
        if t.security == "ssl":
            smtp = smtplib.SMTP_SSL(t.host, t.smtp_port, timeout=self.timeout_s, context=context)
        else:
            smtp = smtplib.SMTP(t.host, t.smtp_port, timeout=self.timeout_s)
        with smtp:
            if t.security == "starttls":
                smtp.starttls(context=context)
            if t.username and self.password is not None:
                smtp.login(t.username, self.password)
            smtp.send_message(mail)


def build_notifiers(targets: tuple[AlertTarget, ...],
                    env: Mapping[str, str]) -> dict[str, Notifier]:
    """A notifier per configured target, by name. A variable that is missing or empty is a
    usage error naming the target, the key and the variable, before anything is stored."""
    out: dict[str, Notifier] = {}
    for i, t in enumerate(targets):
        where = f"alerts[{i}] ({t.key})"
        if isinstance(t, EmailTarget):
            password = _env(env, t.password_env, where, "password_env") \
                if t.password_env else None
            out[t.key] = EmailNotifier(t, password)
            continue
        url = _env(env, t.url_env, where, "url_env")
        if isinstance(t, TeamsTarget):
            out[t.key] = HttpNotifier(t, url, partial(teams_payload, card=t.card))
        else:
            out[t.key] = HttpNotifier(
                t, url, slack_payload if t.type == "slack" else webhook_payload)
    return out


def _env(env: Mapping[str, str], name: str, where: str, key: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise UsageError(f"{where}: environment variable {name} (named by `{key}` in "
                         "dipstick.yaml) is not set; secrets are read from the environment only")
    return value
