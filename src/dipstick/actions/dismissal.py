"""When may a dismissed leak be alerted again? Only when its evidence changed materially.

A leader who dismisses a leak ("known, accepted, not worth fixing") must not be told about it
again at every check. The rule (docs/actions.md, "Dismissal"): the leak raises a new alert only
when, against what it was when dismissed,

* its leak money per month moved by more than :data:`MATERIAL_SHARE` (50 %) of the dismissed
  estimate, either way (from a dismissed 0 any money is material), or
* its start (``since``) is another date: a new shift, so a new event.

The root cause is part of the key (service, cause): a leak under another root is another leak.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

MATERIAL_SHARE = 0.5


@dataclass(frozen=True)
class Dismissed:
    """The evidence of a leak when it was dismissed."""

    action_id: int
    money: float
    since: date | None


def material_change(dismissed: Dismissed, money: float, since: date | None) -> str | None:
    """Why the leak now differs materially from the dismissed one, or ``None`` (stay quiet)."""
    if since != dismissed.since:
        return (f"its start moved from {dismissed.since or 'undated'} to {since or 'undated'}")
    moved = abs(money - dismissed.money)
    if moved > MATERIAL_SHARE * dismissed.money:
        return (f"its leak per month moved from {dismissed.money:,.0f} to {money:,.0f} "
                f"(more than {MATERIAL_SHARE:.0%})")
    return None
