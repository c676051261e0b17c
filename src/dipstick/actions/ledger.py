"""The portfolio ledger: per stored check, value at risk, value recovered and open actions.

Formulas (docs/actions.md, "Ledger"), per run r of the organisation:

* **value at risk** = the run's leak per month (the sum of its services' leaks, each episode
  priced once: the check's own total);
* **value recovered** = Σ over actions done on or before r's as-of date of the value each
  recovered as measured by the checks up to r (:func:`dipstick.actions.recovery.recovery`;
  only ``recovered`` counts), with the sum of their ranges;
* **open actions** = actions on leaks found on or before r's as-of date that were not done or
  dismissed by then (proposed or in progress at r).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from dipstick.actions import DISMISSED, DONE, Expected
from dipstick.actions.recovery import RECOVERED, Observation, recovery

FORMULAS = {
    "value_at_risk": "the run's leak per month (each episode priced once)",
    "value_recovered": "Σ (E0 − E1) over actions done by the run's as-of date whose cause is "
                       "ok in a check with its whole window after the done date; range: Σ of "
                       "the ranges",
    "open_actions": "actions on leaks found by the run's as-of date, neither done nor "
                    "dismissed by then",
}


@dataclass(frozen=True)
class RunTotal:
    run_id: int
    as_of: date
    leak_money: float
    currency: str


@dataclass(frozen=True)
class LedgerAction:
    """What the ledger needs of one action: its status now, dates, expectation and checks."""

    id: int
    status: str
    expected: Expected
    done_on: date | None
    dismissed_on: date | None
    checks: Sequence[Observation]


def ledger_rows(runs: Sequence[RunTotal], actions: Sequence[LedgerAction]
                ) -> list[dict[str, Any]]:
    """One row per run, oldest first (by as-of date, then run id)."""
    rows = []
    for r in sorted(runs, key=lambda r: (r.as_of, r.run_id)):
        money = low = high = 0.0
        recovered: list[int] = []
        open_ids: list[int] = []
        for a in actions:
            if a.expected.as_of > r.as_of:
                continue
            closed = (a.done_on if a.status == DONE else
                      a.dismissed_on if a.status == DISMISSED else None)
            if closed is None or closed > r.as_of:
                open_ids.append(a.id)
                continue
            if a.status != DONE or a.done_on is None:
                continue
            seen = [c for c in a.checks if c.as_of <= r.as_of]
            rec = recovery(a.expected, a.done_on, seen)
            if rec.state == RECOVERED and rec.money is not None:
                money += rec.money
                low += rec.low or 0.0
                high += rec.high or 0.0
                recovered.append(a.id)
        rows.append({"run_id": r.run_id, "as_of": r.as_of.isoformat(), "currency": r.currency,
                     "value_at_risk": round(r.leak_money, 2),
                     "value_recovered": {"money": round(money, 2), "low": round(low, 2),
                                         "high": round(high, 2)},
                     "recovered_actions": recovered, "open_actions": len(open_ids),
                     "open_action_ids": open_ids})
    return rows
