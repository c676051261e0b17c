"""Actions on leaks (issue 15): the leader's loop, as plain values and pure rules.

A leak — an episode: one service's root cause in one run — gets an action with an owner, a
due date and the saving it is expected to bring (the leak's estimate at the time, with its
range). Its status moves ``proposed`` → ``in progress`` → ``done``, or to ``dismissed`` with a
reason; :data:`TRANSITIONS` says which moves are allowed and :func:`validate_change` refuses the
rest with a message an edge turns into exit 2 or a 4xx. When an action is done,
:mod:`.recovery` reports what it recovered; :mod:`.dismissal` says when a dismissed leak may be
alerted again; :mod:`.ledger` sums it all per run. Nothing here reads the database: the store
(:mod:`dipstick.store.actions`) hands these functions rows and keeps what they decide.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from dipstick.errors import UsageError

PROPOSED, IN_PROGRESS, DONE, DISMISSED = "proposed", "in progress", "done", "dismissed"
STATUSES = (PROPOSED, IN_PROGRESS, DONE, DISMISSED)
OPEN = frozenset({PROPOSED, IN_PROGRESS})
# Which status may follow which. ``done`` → ``in progress`` reopens (by hand, or when the leak
# came back); ``dismissed`` → ``proposed`` takes a dismissal back.
TRANSITIONS: dict[str, frozenset[str]] = {
    PROPOSED: frozenset({IN_PROGRESS, DONE, DISMISSED}),
    IN_PROGRESS: frozenset({PROPOSED, DONE, DISMISSED}),
    DONE: frozenset({IN_PROGRESS}),
    DISMISSED: frozenset({PROPOSED}),
}
MAX_TEXT = 500   # an owner, a reason or a note: a line, not a document


@dataclass(frozen=True)
class Expected:
    """The saving an action is expected to bring: the leak's estimate per month when the
    action was created, with its plausible range and the formula that produced it."""

    money: float
    hours: float
    low: float | None
    high: float | None
    formula: str
    since: date | None          # the leak's start, as dated then
    as_of: date                 # the check the leak was read from
    drivers: tuple[str, ...]    # the evidence metrics that were at ``leak`` then

    def to_json(self) -> dict[str, Any]:
        return {"money": round(self.money, 2), "hours": round(self.hours, 1),
                "low": _round(self.low), "high": _round(self.high), "formula": self.formula,
                "since": self.since.isoformat() if self.since else None,
                "as_of": self.as_of.isoformat(), "drivers": list(self.drivers)}


def expected_from(finding: dict[str, Any], as_of: date) -> Expected:
    """The expected saving read from a stored finding (``load_run``'s shape of a cause) that
    must be a root leak; a symptom or a cause that does not leak has nothing to act on."""
    if finding.get("status") != "leak" or finding.get("symptom_of"):
        what = (f"a symptom of {finding['symptom_of']}" if finding.get("symptom_of")
                else f"at {finding.get('status', 'unknown')}")
        raise UsageError(f"only a leak (a root cause at leak) gets an action; this cause is "
                         f"{what}")
    leak = finding["leak_per_month"]
    since = finding.get("since")
    return Expected(
        money=float(leak["money"]), hours=float(leak["hours"]), low=leak.get("low"),
        high=leak.get("high"), formula=leak.get("formula") or "",
        since=date.fromisoformat(since) if since else None, as_of=as_of,
        drivers=tuple(e["metric"] for e in finding.get("evidence", [])
                      if e.get("status") == "leak" and e["metric"] != "episode"))


def text(value: str | None, what: str, required: bool = False) -> str | None:
    """A short free text field, trimmed; too long or missing when required: an error."""
    value = (value or "").strip() or None
    if value is None and required:
        raise UsageError(f"{what} is required")
    if value is not None and len(value) > MAX_TEXT:
        raise UsageError(f"{what} is longer than {MAX_TEXT} characters")
    return value


def validate_change(current: str, status: str | None, reason: str | None,
                    on: date | None, found_on: date) -> None:
    """Refuse a status change the loop does not allow: an unknown status, a move not in
    :data:`TRANSITIONS`, a dismissal without a reason, a change dated (``on``: the done or
    dismissal date) before the check that found the leak (``found_on``) — re-measuring a fix
    made before the leak was seen would compare the leak with itself."""
    if status is None or status == current:
        if on is not None:
            raise UsageError("a date (--on) goes with a change of status to done or dismissed")
        return
    if status not in STATUSES:
        raise UsageError(f"status must be one of {', '.join(STATUSES)}, not {status!r}")
    if status not in TRANSITIONS[current]:
        allowed = ", ".join(sorted(TRANSITIONS[current]))
        raise UsageError(f"an action {current} cannot become {status} (it may become: "
                         f"{allowed})")
    if status == DISMISSED and not (reason or "").strip():
        raise UsageError("a dismissal needs a reason")
    if on is not None and status not in (DONE, DISMISSED):
        raise UsageError("a date (--on) goes with a change of status to done or dismissed")
    if on is not None and on < found_on:
        raise UsageError(f"the date {on} is before the check that found the leak ({found_on})")


def _round(v: float | None) -> float | None:
    return None if v is None else round(v, 2)
