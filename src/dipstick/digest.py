"""The weekly digest: the one-page summary mailed to the organisation's leaders.

Each leader gets a message of their own (no one sees the others' addresses): the summary as
HTML with the chart as an inline PNG (mail clients drop inline SVG), the same page in plain
text, and the PDF attached. It is built from the latest stored run (no re-check: the digest
says what the last check said) and sent through the e-mail target of the package's
``alerts:`` section, with that target's retries. A schedule (cron, a systemd timer) runs
``dipstick digest`` weekly; dipstick keeps no scheduler of its own.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from email.message import EmailMessage
from email.utils import parseaddr
from pathlib import Path
from typing import Any

from dipstick.alerts.notifiers import DeliveryError, EmailNotifier, build_notifiers
from dipstick.errors import PackageError, UsageError
from dipstick.model.alerts import EmailTarget
from dipstick.package import read_model
from dipstick.store import Store
from dipstick.store.actions import actions_for_run, ledger
from dipstick.store.users import emails_with_role
from dipstick.summary import Summary, build_summary
from dipstick.summary.chart import leak_chart
from dipstick.summary.html import render_html
from dipstick.summary.pdf import render_pdf
from dipstick.summary.text import money, plain
from dipstick.summary.write import file_name

__all__ = ["Digest", "DigestReport", "compose", "email_target", "latest_summary", "message",
           "recipients", "send"]

LEADER = "leader"
HISTORY_RUNS = 520          # ten years of weekly checks on the chart
CHART_CID = "leak-chart@dipstick"


@dataclass(frozen=True)
class Digest:
    """One digest, the same for every recipient."""

    summary: Summary
    subject: str
    text: str
    html: str
    chart_png: bytes
    pdf: bytes
    pdf_name: str


@dataclass
class DigestReport:
    sent: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def latest_summary(store: Store, run_id: int | None = None,
                   today: date | None = None) -> Summary:
    """The summary of a stored run (default: the latest) with its organisation's history."""
    history = store.runs(limit=HISTORY_RUNS)
    if run_id is None:
        if not history:
            raise UsageError(f"no stored check in the app database at {store.url}: run "
                             "`dipstick check PKG` first")
        run_id = history[0].id
    actions, ledger = actions_of(store, run_id)
    return build_summary(store.load_run(run_id), history, actions, ledger, today=today)


def actions_of(store: Store, run_id: int) -> tuple[dict[tuple[str, str], dict[str, Any]],
                                                   dict[str, Any] | None]:
    """The summary's actions (the newest per leak, with what it recovered as measured by the
    checks up to the run) and the ledger's value recovered at the run (docs/actions.md)."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for a in sorted(actions_for_run(store, run_id), key=lambda a: a["id"]):
        rec = a.get("recovery") or {}
        recovered = rec.get("state") == "recovered"
        found[(a["service_id"], a["cause"])] = {
            "status": a["status"], "owner": a["owner"], "due": a["due"],
            "recovered_money": rec.get("money") if recovered else None,
            "recovered_low": rec.get("low") if recovered else None,
            "recovered_high": rec.get("high") if recovered else None}
    rows = [r for r in ledger(store)["rows"] if r["run_id"] == run_id]
    total = rows[0]["value_recovered"] if rows else None
    return found, total


def compose(summary: Summary) -> Digest:
    subject = _one_line(f"[dipstick] {summary.organisation}: "
                        f"{money(summary.leak_money, summary.currency)} per month at risk, "
                        f"as of {summary.as_of.isoformat()}")
    return Digest(summary, subject, plain(summary),
                  render_html(summary, chart_src=f"cid:{CHART_CID}"),
                  leak_chart(summary, "png", dpi=150), render_pdf(summary),
                  file_name(summary, "pdf"))


def message(d: Digest, sender: str, to: str) -> EmailMessage:
    """Plain text and HTML (with the chart as a related image), the PDF attached."""
    mail = EmailMessage()
    mail["Subject"] = d.subject
    mail["From"] = sender
    mail["To"] = to
    mail.set_content(d.text)
    mail.add_alternative(d.html, subtype="html")
    html_part = mail.get_body(("html",))
    assert html_part is not None
    html_part.add_related(d.chart_png, "image", "png", cid=f"<{CHART_CID}>",
                          filename="leak-chart.png")
    mail.add_attachment(d.pdf, maintype="application", subtype="pdf", filename=d.pdf_name)
    return mail


def recipients(store: Store, to: Sequence[str] = ()) -> list[str]:
    """``to`` when given (each checked), else every active user with the role leader."""
    if to:
        return [_address(a) for a in dict.fromkeys(a.strip() for a in to)]
    leaders = emails_with_role(store, LEADER)
    if not leaders:
        raise UsageError("no active user has the role leader: add one (dipstick users create "
                         "--role leader) or pass --to")
    return leaders


def email_target(package: Path, name: str | None = None) -> EmailTarget:
    """The package's e-mail alert target (``name`` picks one of several): its SMTP server,
    security, user, password variable and sender are the digest's too."""
    model, problems = read_model(package)
    if model is None or problems:
        raise PackageError(problems)
    targets = [t for t in model.alerts if isinstance(t, EmailTarget)]
    if name is not None:
        targets = [t for t in targets if t.key == name]
    if not targets:
        which = f"named {name!r} " if name else ""
        raise UsageError(f"no e-mail target {which}in the alerts: section of "
                         f"{package / 'dipstick.yaml'}: the digest sends through it "
                         "(docs/alerts.md)")
    if len(targets) > 1:
        raise UsageError("several e-mail targets in alerts: choose one with --target ("
                         + ", ".join(t.key for t in targets) + ")")
    return targets[0]


def send(d: Digest, target: EmailTarget, to: Sequence[str]) -> DigestReport:
    """One message per recipient; stops at the first failure (the server is down or refuses
    us: the rest would fail alike, each after its retries)."""
    notifier = build_notifiers((target,), os.environ)[target.key]
    assert isinstance(notifier, EmailNotifier)
    report = DigestReport()
    for address in to:
        try:
            notifier.send_mail(message(d, target.sender, address))
        except DeliveryError as e:
            report.failed.append(f"{address}: {e}")
            break
        report.sent.append(address)
    return report


def _address(text: str) -> str:
    """A bare address (``name@domain``); one per ``--to``, so no list or header tricks."""
    local, _, domain = text.rpartition("@")
    if parseaddr(text)[1] != text or not local or "." not in domain \
            or re.search(r"[\s,;<>\"]", text):
        raise UsageError(f"--to {text!r} is not an e-mail address (name@domain)")
    return text


def _one_line(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()
