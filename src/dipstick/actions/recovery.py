"""Did the action work? The value recovered per month, as a pure function of stored findings.

The method is deliberately plain (docs/actions.md, "Did it work?"): the check already compares
each signal's window with its baseline under the uncertainty rules of :mod:`dipstick.stats`
and :mod:`dipstick.indicators.confidence` (95 % intervals, p-values corrected across the
check). A check whose window starts on or after the done date D compares *after D* with
*before D*; its finding for the same service and cause is therefore the re-measurement.

* **recovered** — in the latest such check the cause is measured and ``ok`` (its indicator
  found no driver past its watch line; a ``watch`` is "not yet sure" and does not count).
  Value recovered per month = E₀ − E₁, where E₀ is the leak estimate when the action was
  created and E₁ the cause's estimate now (0 while ``ok``); range
  [max(0, E₀low − E₁high), E₀high − E₁low], each bound falling back to its point estimate
  where the check gave no range.
* **not recovered yet** — no check's window lies wholly after D (too little data after D),
  or the cause still leaks, is at ``watch``, is now a symptom of another root, is self-assessed
  or cannot be judged (``unknown``) in the latest such check.
* **came back** — it was recovered in one such check and leaks again (as a root) in a later
  one: the caller reopens the action.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from dipstick.actions import Expected

RECOVERED, NOT_YET, CAME_BACK = "recovered", "not recovered yet", "came back"
FORMULA = ("recovered = E0 − E1 per month, E0 = the leak estimate when the action was created, "
           "E1 = the cause's estimate in the check after the done date (0 while ok); range "
           "[max(0, E0 low − E1 high), E0 high − E1 low]")


@dataclass(frozen=True)
class Observation:
    """One stored check's finding for the action's service and cause."""

    run_id: int
    as_of: date
    window_days: int
    status: str                 # ok | watch | leak | unknown | n/a | absent
    money: float = 0.0
    low: float | None = None
    high: float | None = None
    symptom_of: str | None = None
    basis: str = "measured"

    @property
    def window_start(self) -> date:
        return self.as_of - timedelta(days=self.window_days - 1)

    @property
    def root_leak(self) -> bool:
        return self.status == "leak" and not self.symptom_of and self.basis == "measured"

    @property
    def sure_ok(self) -> bool:
        return self.status == "ok" and self.basis == "measured"


@dataclass(frozen=True)
class Recovery:
    """What the re-measurement says, in words and numbers, with its formula."""

    state: str                  # recovered | not recovered yet | came back
    reason: str
    money: float | None = None  # value recovered per month (recovered only)
    low: float | None = None
    high: float | None = None
    run_id: int | None = None   # the check it rests on
    as_of: date | None = None
    came_back_run: int | None = None
    formula: str = FORMULA

    def to_json(self) -> dict[str, Any]:
        return {"state": self.state, "reason": self.reason, "money": _r(self.money),
                "low": _r(self.low), "high": _r(self.high), "run_id": self.run_id,
                "as_of": self.as_of.isoformat() if self.as_of else None,
                "came_back_run": self.came_back_run, "formula": self.formula}


def recovered_value(before: Expected, after: Observation) -> tuple[float, float, float]:
    """E₀ − E₁ with its range (docs/actions.md); never below zero at the low end."""
    money = before.money - after.money
    b_low = before.low if before.low is not None else before.money
    b_high = before.high if before.high is not None else before.money
    a_low = after.low if after.low is not None else after.money
    a_high = after.high if after.high is not None else after.money
    return money, max(0.0, b_low - a_high), b_high - a_low


def recovery(before: Expected, done_on: date, checks: Sequence[Observation]) -> Recovery:
    """The verdict on a done action from the stored checks (any order; those whose window
    starts before ``done_on`` are ignored): recovered, not recovered yet, or came back."""
    after = sorted((c for c in checks if c.window_start >= done_on),
                   key=lambda c: (c.as_of, c.run_id))
    if not after:
        return Recovery(NOT_YET, f"too little data after {done_on}: no stored check has its "
                                 f"whole window after the done date yet")
    first_ok = next((c for c in after if c.sure_ok), None)
    if first_ok is not None:
        back = next((c for c in after if c.as_of > first_ok.as_of and c.root_leak), None)
        if back is not None:
            return Recovery(CAME_BACK, f"recovered as of {first_ok.as_of}, leaking again as of "
                                       f"{back.as_of}", run_id=first_ok.run_id,
                            as_of=first_ok.as_of, came_back_run=back.run_id)
    last = after[-1]
    if last.sure_ok:
        money, low, high = recovered_value(before, last)
        return Recovery(RECOVERED, f"the cause is ok as of {last.as_of} (window from "
                                   f"{last.window_start}, after the done date {done_on})",
                        money, low, high, last.run_id, last.as_of)
    return Recovery(NOT_YET, _why_not(last), run_id=last.run_id, as_of=last.as_of)


def _why_not(c: Observation) -> str:
    if c.basis != "measured":
        return f"as of {c.as_of} the cause rests on a self-assessment, not on measured data"
    if c.symptom_of:
        return f"as of {c.as_of} it is a symptom of {c.symptom_of.replace('_', ' ')}"
    return {"leak": f"still leaking as of {c.as_of}",
            "watch": f"at watch as of {c.as_of}: not yet sure it recovered",
            }.get(c.status, f"the cause could not be judged as of {c.as_of} ({c.status})")


def _r(v: float | None) -> float | None:
    return None if v is None else round(v, 2)
