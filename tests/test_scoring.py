"""The one grading rule every indicator shares: status and score agree, and worse is never
better."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from dipstick.findings import (
    CacheKey,
    CheckCache,
    LeakEstimate,
    Status,
    Threshold,
    conclude,
    evidence,
)

values = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)


@given(watch=values, gap=st.floats(min_value=1e-3, max_value=1e3), value=values,
       higher=st.booleans())
def test_status_and_score_bands_agree(watch: float, gap: float, value: float,
                                      higher: bool) -> None:
    t = Threshold(watch, watch + gap if higher else watch - gap)
    status, score = t.grade(value)
    assert 0 <= score <= 100
    band = {Status.OK: (0, 0), Status.WATCH: (25, 50), Status.LEAK: (50, 100)}[status]
    assert band[0] <= score <= band[1]


@given(a=values, b=values)
def test_worse_values_never_score_lower(a: float, b: float) -> None:
    t = Threshold(7.0, 6.0)  # lower is worse
    worse, better = min(a, b), max(a, b)
    assert t.grade(worse)[1] >= t.grade(better)[1]


def test_known_points() -> None:
    t = Threshold(0.6, 0.4)
    assert t.grade(0.7) == (Status.OK, 0.0)
    assert t.grade(0.6) == (Status.WATCH, 25.0)
    assert t.grade(0.5) == (Status.WATCH, 37.5)
    assert t.grade(0.4) == (Status.LEAK, 50.0)
    assert t.grade(0.3) == (Status.LEAK, 75.0)
    assert t.grade(0.0) == (Status.LEAK, 100.0)


def test_a_finding_is_its_worst_known_evidence_and_ok_counts_nothing() -> None:
    t = Threshold(7.0, 6.0)
    ok = conclude("s", "c", [evidence("a", "A", 8.0, t, "p"), evidence("b", "B", None, t, "p")],
                  LeakEstimate(100.0, 1.0, "x"), "act")
    assert ok.status is Status.OK and ok.leak.money == 0
    leak = conclude("s", "c", [evidence("a", "A", 8.0, t, "p"), evidence("b", "B", 5.0, t, "p")],
                    LeakEstimate(100.0, 1.0, "x"), "act")
    assert leak.status is Status.LEAK and leak.leak.money == 100
    none = conclude("s", "c", [evidence("b", "B", None, t, "p")], LeakEstimate(), "act")
    assert none.status is Status.UNKNOWN


def test_the_check_cache_computes_once_per_key_and_keys_are_not_names() -> None:
    cache = CheckCache()
    calls: list[int] = []
    costs: CacheKey[int] = CacheKey("costs")

    def compute() -> int:
        calls.append(1)
        return 7

    assert cache.get(costs, compute) == 7
    assert cache.get(costs, compute) == 7
    assert calls == [1]
    # a second key of the same name is another slot: keys are constants, not strings
    assert cache.get(CacheKey[int]("costs"), lambda: 8) == 8
