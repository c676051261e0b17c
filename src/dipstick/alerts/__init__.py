"""Alerts: tell people once when a leak begins and once when it ends.

The flow of ``dipstick check --alert``, after the run is stored::

    targets = package.model.alerts                    # alerts: from dipstick.yaml
    notifiers = build_notifiers(targets, os.environ)  # secrets from the environment, or exit 2
    report = run_alerts(store, run_id, result, notifiers)

``run_alerts`` logs the new events (pure diff against the alert log, :mod:`.events`) with one
pending delivery per target, then sends every pending delivery, old ones included. A receiver
that fails leaves its deliveries pending for the next run; it never changes the check's exit
code. After one failure a target is not tried again in the same run, so a dead receiver costs
one bounded retry cycle, not one per alert.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from dipstick.alerts.events import LEAK, RESOLVED, diff
from dipstick.alerts.messages import build
from dipstick.alerts.notifiers import DeliveryError, Notifier, build_notifiers
from dipstick.check import CheckResult
from dipstick.errors import StoreError, UsageError
from dipstick.store import Store
from dipstick.store.actions import dismissed
from dipstick.store.alerts import AlertLog, Delivery

__all__ = ["AlertReport", "DeliveryError", "build_notifiers", "deliver_pending", "list_alerts",
           "run_alerts"]


@dataclass
class AlertReport:
    """What one ``--alert`` run did: events logged, deliveries sent and still pending."""

    leaks: int = 0
    resolved: int = 0
    sent: int = 0
    failures: list[str] = field(default_factory=list)
    pending: int = 0

    def lines(self) -> list[str]:
        head = (f"alerts: {self.leaks} new leak(s), {self.resolved} resolved; "
                f"{self.sent} sent, {self.pending} pending")
        return [head, *self.failures]


def run_alerts(store: Store, run_id: int, result: CheckResult,
               notifiers: dict[str, Notifier],
               clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> AlertReport:
    """Log the events this run raises, then deliver everything pending."""
    log = AlertLog(store)
    report = AlertReport()
    targets = [(key, n.kind) for key, n in notifiers.items()]
    for attempt in range(2):
        events = diff(result, log.latest(result.organisation),
                      dismissed(store, result.organisation))
        try:
            log.record(run_id, result.organisation, events, targets, clock())
            break
        except StoreError:
            if attempt:  # a concurrent run logged the same events first: recompute once
                raise
    report.leaks = sum(1 for e in events if e.kind == LEAK)
    report.resolved = sum(1 for e in events if e.kind == RESOLVED)
    deliver_pending(log, notifiers, report, clock)
    return report


def deliver_pending(log: Any, notifiers: dict[str, Notifier], report: AlertReport,
                    clock: Callable[[], datetime]) -> None:
    """Send every pending delivery of the log (alerts and overdue check-ins alike), skipping a
    target for the rest of the run once it is down."""
    down: set[str] = set()
    pending: list[Delivery] = log.pending(clock())
    for d in pending:
        notifier = notifiers.get(d.target)
        if notifier is None or d.target in down:
            report.pending += 1
            continue
        if not log.claim(d, clock()):
            continue  # another run took it
        try:
            notifier.send(build(d.event_id, d.details))
        except DeliveryError as e:
            down.add(d.target)
            log.finish(d.id, clock(), str(e))
            report.pending += 1
            report.failures.append(f"alert #{d.event_id} ({d.kind} {d.service_id}/{d.cause}) "
                                   f"to {d.target} not delivered, kept pending: {e}")
        except BaseException:
            log.finish(d.id, clock(), "interrupted while sending")
            raise
        else:
            log.finish(d.id, clock(), None)
            report.sent += 1
    unknown = sorted({d.target for d in pending if d.target not in notifiers})
    if unknown:
        report.failures.append(f"pending alerts for target(s) no longer configured: "
                               f"{', '.join(unknown)}")


def list_alerts(store: Store, limit: int = 50, status: str | None = None) -> list[dict[str, Any]]:
    """Sent and pending deliveries, newest first, as plain rows for a table or JSON."""
    if status not in (None, "pending", "sending", "sent"):
        raise UsageError(f"--status must be pending, sending or sent, not {status!r}")
    rows = AlertLog(store).deliveries(limit, status)
    return [{"id": d.id, "event": d.event_id, "run": d.run_id,
             "created_at": d.created_at.isoformat(),
             "kind": d.kind, "service": d.service_id, "cause": d.cause, "target": d.target,
             "type": d.target_type, "status": d.status, "attempts": d.attempts,
             "sent_at": d.sent_at.isoformat() if d.sent_at else None,
             "last_error": d.last_error,
             "title": build(d.event_id, d.details).title} for d in rows]


def alerts_table(rows: list[dict[str, Any]]) -> Any:
    """The Rich table of ``dipstick alerts``."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    table = Table(title="Alerts (newest first)", box=box.SIMPLE_HEAD, header_style="bold")
    for col in ("#", "Created", "Event", "Service", "Cause", "Target", "Status", "Runs",
                "Sent", "Last error"):
        table.add_column(col, overflow="fold")
    style = {"sent": "green", "pending": "yellow", "sending": "cyan"}
    for r in rows:
        table.add_row(str(r["id"]), _minute(r["created_at"]),
                      Text(r["kind"], style="red" if r["kind"] == LEAK else "green"),
                      r["service"], r["cause"], r["target"],
                      Text(r["status"], style=style.get(r["status"], "")), str(r["attempts"]),
                      _minute(r["sent_at"]),
                      r["last_error"] or "")
    return table


def _minute(iso: str | None) -> str:
    return iso[:16].replace("T", " ") if iso else ""
