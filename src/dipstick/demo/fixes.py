"""The demo's seeded fixes: a few actions on the demo's leaks, so the leader's loop (issue 15)
can be seen end to end right after ``dipstick demo``.

The demo's data ends on one date, so the loop is replayed over two checks: an earlier one
(:data:`EARLY_DAYS` before the end) where the leaks were found and acted on, and the final one
that re-measures them. :func:`plan` picks, from the two checks' JSON documents, up to two
actions done a month after the early check — leaks that the final check no longer sees first
(they show value recovered), then the largest one still leaking (not recovered yet) — one in
progress and one dismissed. Pure: the CLI stores what it returns.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from dipstick.actions import DISMISSED, DONE, IN_PROGRESS

EARLY_DAYS = 184        # the early check: half a year before the data's end
DONE_AFTER_DAYS = 31    # the fixes were done a month after that check


@dataclass(frozen=True)
class Fix:
    service_id: str
    cause: str
    status: str
    on: date | None = None
    due: date | None = None
    reason: str | None = None
    note: str | None = None


def early_as_of(final: date) -> date:
    return final - timedelta(days=EARLY_DAYS)


def _roots(doc: dict[str, Any]) -> list[tuple[str, str, float]]:
    return sorted(((s["id"], c, f["leak_per_month"]["money"]) for s in doc["services"]
                   for c, f in s["causes"].items()
                   if f["status"] == "leak" and not f.get("symptom_of")
                   and f.get("basis", "measured") == "measured"), key=lambda r: -r[2])


def plan(early: dict[str, Any], final: dict[str, Any]) -> list[Fix]:
    """The actions to seed, from the early and the final check (``CheckResult.to_json``)."""
    as_of = date.fromisoformat(early["as_of"])
    done_on, due = as_of + timedelta(days=DONE_AFTER_DAYS), as_of + timedelta(days=45)
    later = {s["id"]: s["causes"] for s in final["services"]}
    roots = _roots(early)

    def status_later(sid: str, cause: str) -> str:
        return str(later.get(sid, {}).get(cause, {}).get("status", "unknown"))

    gone = [r for r in roots if status_later(r[0], r[1]) == "ok"]
    still = [r for r in roots if status_later(r[0], r[1]) == "leak"]
    fixes = [Fix(s, c, DONE, done_on, due, note="fixed a month after the early check")
             for s, c, _ in gone[:2]]
    rest = [r for r in still if (r[0], r[1]) not in {(f.service_id, f.cause) for f in fixes}]
    if len(fixes) < 2 and rest:
        s, c, _ = rest.pop(0)
        fixes.append(Fix(s, c, DONE, done_on, due, note="fixed, but is it enough?"))
    if rest:
        s, c, _ = rest.pop(0)
        fixes.append(Fix(s, c, IN_PROGRESS, due=due + timedelta(days=60)))
    if rest:
        s, c, _ = rest.pop()   # the smallest leak: not worth a fix
        fixes.append(Fix(s, c, DISMISSED, on=as_of + timedelta(days=7),
                         reason="small and known; accepted until the next review"))
    return fixes
