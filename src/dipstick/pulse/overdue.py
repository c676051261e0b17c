"""Overdue check-ins: service × consuming group pairs not asked for longer than
``checkin_max_age_days``, and the alert raised once when a pair becomes overdue.

"Last asked" is the later of the latest survey answer of the pair in the package (any survey
tool) and the latest check-in started for it in dipstick — starting one counts as asking. A
pair never asked is overdue. The rule is the perception indicator's (unknown is not green).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import narwhals as nw

from dipstick.alerts import AlertReport
from dipstick.alerts.events import OVERDUE, LatestEvent, NewEvent
from dipstick.alerts.notifiers import Notifier
from dipstick.engine import Signals, collect
from dipstick.model import ValueModel
from dipstick.store import Store


@dataclass(frozen=True)
class Pair:
    service_id: str
    service_name: str
    owner: str | None
    group: str
    group_name: str
    last_asked: date | None
    days: int | None          # since last asked, as of today

    @property
    def cause(self) -> str:
        """The alert log's key for the pair (``checkin:<group>``, as in the evidence)."""
        return f"checkin:{self.group}"


def survey_dates(signals: Signals) -> dict[tuple[str, str], date]:
    """The latest survey answer per (service, group) in a package's ``surveys`` table."""
    if not signals.has("surveys"):
        return {}
    lf = signals.frame("surveys").group_by("service", "group").agg(nw.col("date").max())
    return {(r["service"], r["group"]): _day(r["date"]) for r in collect(lf)}


def _day(v: Any) -> date:
    return v.date() if hasattr(v, "date") and callable(v.date) else v   # type: ignore[no-any-return]


def checkins(model: ValueModel, surveyed: Mapping[tuple[str, str], date],
             started: Mapping[tuple[str, str], date], today: date) -> list[Pair]:
    """Every live or pipeline service × consuming group, with when it was last asked."""
    out = []
    for s in model.services:
        if s.lifecycle == "retired":
            continue
        for gid in s.consumers:
            dates = [d for d in (surveyed.get((s.id, gid)), started.get((s.id, gid))) if d]
            last = max(dates) if dates else None
            g = model.group(gid)
            out.append(Pair(s.id, s.name, s.owner, gid, g.name if g else gid, last,
                            (today - last).days if last else None))
    return out


def overdue(pairs: list[Pair], max_age_days: int) -> list[Pair]:
    """The pairs not asked for longer than ``max_age_days`` (never asked first, then oldest)."""
    late = [p for p in pairs if p.days is None or p.days > max_age_days]
    return sorted(late, key=lambda p: (p.last_asked is not None, p.last_asked or date.min,
                                       p.service_id, p.group))


def overdue_events(organisation: str, late: list[Pair],
                   latest: Mapping[tuple[str, str], LatestEvent], max_age_days: int,
                   today: date) -> list[NewEvent]:
    """An ``overdue`` event per pair that became overdue since its last announcement: never
    announced, or asked again since (its last-asked date moved on)."""
    events = []
    for p in late:
        last = latest.get((p.service_id, p.cause))
        asked = p.last_asked.isoformat() if p.last_asked else None
        if last is not None and last.kind == OVERDUE and last.details.get("last_asked") == asked:
            continue
        episode = (last.episode if last else 0) + 1
        events.append(NewEvent(p.service_id, p.cause, episode, OVERDUE, {
            "kind": OVERDUE, "organisation": organisation, "service_id": p.service_id,
            "service_name": p.service_name, "owner": p.owner, "cause": p.cause,
            "group": p.group, "group_name": p.group_name, "last_asked": asked,
            "days": p.days, "max_age_days": max_age_days, "as_of": today.isoformat()}))
    return events


def alert_overdue(store: Store, run_id: int, organisation: str, late: list[Pair],
                  notifiers: dict[str, Notifier], max_age_days: int, today: date
                  ) -> AlertReport:
    """Log the newly overdue pairs in the alert log (one pending delivery per target) and
    deliver everything pending, as ``dipstick check --alert`` does for leaks."""
    from dipstick.alerts import deliver_pending
    from dipstick.store.alerts import AlertLog

    log = AlertLog(store)
    report = AlertReport()
    events = overdue_events(organisation, late, log.latest(organisation), max_age_days, today)
    log.record(run_id, organisation, events, [(k, n.kind) for k, n in notifiers.items()],
               datetime.now(UTC))
    report.leaks = len(events)
    deliver_pending(log, notifiers, report, lambda: datetime.now(UTC))
    return report
