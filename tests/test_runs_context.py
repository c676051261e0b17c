"""The run's context for the pages shares its equal leak estimates (``runs._one_leak``):
fewer objects to pickle with the run and to read back, the same values (issue 16, storing)."""

from __future__ import annotations

import pickle
from math import copysign

from dipstick.check import CheckResult
from dipstick.findings import LeakEstimate
from dipstick.runs import _one_leak, lights_only


def leaks_of(result: CheckResult) -> list[LeakEstimate]:
    return [f.leak for v in result.verdicts for f in v.findings]


def test_equal_leak_estimates_become_one_object_with_the_same_values(
        demo_result: CheckResult) -> None:
    light = lights_only(demo_result)
    before, after = leaks_of(demo_result), leaks_of(light)
    assert after == before                                   # value for value, in order
    assert len({id(x) for x in before}) == len(before)       # the check's are all distinct
    assert len({id(x) for x in after}) == len(set(after)) < len(after)   # one per value
    # what is stored is the pickle: it reads back equal, with the sharing kept
    again = pickle.loads(pickle.dumps(light, protocol=5))
    assert again == light and len({id(x) for x in leaks_of(again)}) == len(set(after))


def test_a_negative_zero_is_never_replaced_by_a_zero() -> None:
    """-0.0 == 0.0 (and they hash alike): sharing by equality alone would change the sign."""
    leaks: dict[tuple[object, ...], LeakEstimate] = {}
    zero = _one_leak(LeakEstimate(0.0, 0.0, "none"), leaks)
    assert _one_leak(LeakEstimate(0.0, 0.0, "none"), leaks) is zero
    for odd in (LeakEstimate(-0.0, 0.0, "none"), LeakEstimate(0.0, -0.0, "none"),
                LeakEstimate(0.0, 0.0, "none", -0.0, 0.0),
                LeakEstimate(0.0, 0.0, "none", 0.0, -0.0)):
        kept = _one_leak(odd, leaks)
        assert kept is odd and kept is not zero
        signs = [copysign(1.0, x) for x in (kept.money, kept.hours, kept.low, kept.high)
                 if x is not None]
        assert signs.count(-1.0) == 1
    assert _one_leak(LeakEstimate(0.0, 0.0, "none", 1.0, None), leaks) is not zero
