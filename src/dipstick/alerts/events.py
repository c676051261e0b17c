"""Which alerts a check raises: the open-leak diff, as a pure function.

The state is the alert log itself, not a comparison of two runs: a (service, cause) is *open*
when its latest event is a ``leak``. Comparing with "the previous run" instead would repeat an
alert after a run that checked other services, an ``--as-of`` rerun of an older date, or a run
whose alerts were never delivered; the log knows exactly what was announced.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from dipstick.actions.dismissal import Dismissed, material_change
from dipstick.check import CheckResult, ServiceVerdict
from dipstick.findings import Finding, Status
from dipstick.store.alerts import LEAK, OVERDUE, RESOLVED, LatestEvent, NewEvent, Pair

__all__ = ["LEAK", "OVERDUE", "RESOLVED", "LatestEvent", "NewEvent", "Pair", "diff",
           "leak_details", "overdue_checkins", "resolved_details"]

def diff(result: CheckResult, latest: Mapping[Pair, LatestEvent],
         dismissed: Mapping[Pair, Dismissed] | None = None) -> list[NewEvent]:
    """New ``leak`` events for leaking pairs not open, ``resolved`` events for open pairs of
    the services this run checked that no longer leak. A service the run did not check (a
    ``--service`` filter) keeps its open leaks: not looking is not getting better. A symptom
    (``watch`` with ``symptom_of``) never opens a leak, and an open leak that became one stays
    open: the event goes on under its root, so it is neither "ended" now nor announced again
    when it stands alone once more. A self-assessed finding (an owner's answers, no data)
    neither opens nor ends a leak. A leak whose newest action is dismissed opens no episode
    until its evidence changed materially (:func:`dipstick.actions.dismissal.material_change`);
    the reason it is announced again goes into the event's details."""
    dismissed = dismissed or {}
    found: dict[Pair, tuple[ServiceVerdict, Finding]] = {
        (v.service.id, f.cause): (v, f) for v in result.verdicts for f in v.findings}
    checked = {v.service.id for v in result.verdicts}
    events: list[NewEvent] = []
    for (sid, cause), (v, f) in found.items():
        last = latest.get((sid, cause))
        if f.self_assessed:
            continue     # an owner's answers, not a measured leak: never announced
        if f.status is Status.LEAK and not (last and last.open):
            details = leak_details(result, v, f)
            quiet = dismissed.get((sid, cause))
            if quiet is not None:
                why = material_change(quiet, f.leak.money, f.since)
                if why is None:
                    continue     # dismissed, and nothing material changed: stay quiet
                details["dismissed_action"] = quiet.action_id
                details["changed"] = why
            episode = (last.episode if last else 0) + 1
            events.append(NewEvent(sid, cause, episode, LEAK, details))
    for (sid, cause), last in sorted(latest.items()):
        if not last.open or sid not in checked:
            continue
        v_f = found.get((sid, cause))
        if v_f is not None and (v_f[1].status is Status.LEAK or v_f[1].symptom_of
                                or v_f[1].self_assessed):
            continue     # still leaking, or now a symptom: counted under its root, not ended;
            # or its data is gone and only an opinion is left: not a measured end either
        events.append(NewEvent(sid, cause, last.episode, RESOLVED,
                               resolved_details(result, last.details, v_f)))
    return events + overdue_checkins(result, latest)


def overdue_checkins(result: CheckResult, latest: Mapping[Pair, LatestEvent]) -> list[NewEvent]:
    """An ``overdue`` event (key ``checkin:<group>``) for each consuming group the perception
    evidence says was not asked for too long, unless already announced for the same last
    check-in date (asked again and overdue again is a new episode)."""
    events = []
    for v in result.verdicts:
        for f in v.findings:
            if f.cause != "perception":
                continue
            for e in f.evidence:
                if not e.metric.startswith("checkin:") or e.status is not Status.WATCH:
                    continue
                asked = e.value if isinstance(e.value, str) and e.value != "never" else None
                last = latest.get((v.service.id, e.metric))
                if last is not None and last.kind == OVERDUE and \
                        last.details.get("last_asked") == asked:
                    continue
                days = re.search(r"\d+", e.threshold or "")
                events.append(NewEvent(v.service.id, e.metric, (last.episode if last else 0) + 1,
                                       OVERDUE, {
                    "kind": OVERDUE, "organisation": result.organisation,
                    "service_id": v.service.id, "service_name": v.service.name,
                    "owner": v.service.owner, "cause": e.metric,
                    "group": e.metric.split(":", 1)[1],
                    "group_name": e.label.removeprefix("Last check-in with "),
                    "last_asked": asked, "days": None,
                    "max_age_days": int(days.group(0)) if days else None,
                    "as_of": result.as_of.isoformat()}))
    return events


def leak_details(result: CheckResult, v: ServiceVerdict, f: Finding) -> dict[str, Any]:
    """Everything a leak message needs, as JSON, so a delivery days later says the same."""
    return {
        "kind": LEAK, "organisation": result.organisation, "service_id": v.service.id,
        "service_name": v.service.name, "owner": v.service.owner, "cause": f.cause,
        "status": f.status.value, "score": f.score, "summary": f.summary, "action": f.action,
        "money": round(f.leak.money, 2), "hours": round(f.leak.hours, 1),
        "formula": f.leak.formula, "currency": result.currency,
        "since": f.since.isoformat() if f.since else None, "as_of": result.as_of.isoformat(),
        "episode": f.episode,
    }


def resolved_details(result: CheckResult, opened: Mapping[str, Any],
                     now: tuple[ServiceVerdict, Finding] | None) -> dict[str, Any]:
    """Which leak ended, when it started (its ``since``, else the date it was first seen) and
    what the cause looks like now (``ok``, ``watch``, or ``unknown`` when data went missing)."""
    status = now[1].status.value if now else Status.UNKNOWN.value
    summary = now[1].summary if now else "the cause was not assessed in this run"
    return {
        "kind": RESOLVED, "organisation": result.organisation,
        "service_id": opened["service_id"],
        "service_name": now[0].service.name if now else opened["service_name"],
        "owner": now[0].service.owner if now else opened.get("owner"),
        "cause": opened["cause"], "status": status, "summary": summary,
        "started": opened.get("since") or opened.get("as_of"),
        "first_seen": opened.get("as_of"), "leak_money": opened.get("money"),
        "leak_hours": opened.get("hours"), "currency": result.currency,
        "as_of": result.as_of.isoformat(),
    }
