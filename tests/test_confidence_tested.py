"""``tested`` builds its evidence whole (not by ``dataclasses.replace``, ~50,000 calls a check):
every field must still be the graded evidence's, with the test's added."""

from __future__ import annotations

import math
from dataclasses import fields, replace

import pytest

from dipstick import stats
from dipstick.findings import Evidence, Status, Threshold, evidence
from dipstick.indicators import confidence


@pytest.mark.parametrize(("value", "note", "sample", "relative"), [
    (1.8, "", "", False), (1.8, "incidents", "tickets", True), (0.3, "x", "", True)])
def test_tested_is_the_graded_evidence_with_its_test(value: float, note: str, sample: str,
                                                     relative: bool) -> None:
    line = Threshold(1.3, 1.6)
    test = stats.Test(value, 0.123456789, math.inf, 0.00012345678, 41, "41 vs 26")
    got = confidence.tested("m", "Label", value, line, "13 weeks", test, unit="×",
                            baseline=2.5, note=note, sample=sample, relative=relative)
    graded = evidence("m", "Label", value, line, "13 weeks", unit="×", baseline=2.5, note=note)
    words = f"{test.interval('')}; 41 vs 26" + (f" {sample}" if sample else "")
    want = replace(graded, n=41, low=0.1235, high=None, p=0.000123,
                   note=f"{words}; {note}" if note else words, relative=relative)
    assert got == want
    assert {f.name for f in fields(Evidence)} == {*want.__dict__}   # no field left behind
    assert [getattr(got, f.name) for f in fields(Evidence)] == \
        [getattr(want, f.name) for f in fields(Evidence)]


def _tested_before(metric: str, label: str, value: float | None, threshold: Threshold | None,
                   period: str, test: stats.Test | None, *, unit: str = "",
                   baseline: float | None = None, note: str = "", sample: str = "",
                   required: bool = True, relative: bool = False) -> Evidence:
    """``tested`` as it was before its grading was inlined: graded by ``evidence``, then the
    test's fields added."""
    if test is None and required and value is not None:
        return evidence(metric, label, None, threshold, period, unit=unit, baseline=baseline,
                        note="too few data points to test")
    e = evidence(metric, label, value, threshold, period, unit=unit, baseline=baseline,
                 note=note)
    if test is None or e.value is None:
        return e
    words = f"{test.interval(unit if unit.strip() != '×' else '')}; {test.sample}"
    if sample:
        words += f" {sample}"

    def r(v: float, d: int = 4) -> float | None:
        return None if math.isnan(v) or math.isinf(v) else round(v, d)

    return replace(e, note=f"{words}; {note}" if note else words, n=test.n, low=r(test.low),
                   high=r(test.high), p=r(test.p, 6), relative=relative)


def test_tested_grades_as_evidence_did_on_every_kind_of_input() -> None:
    """Values on, past and short of both lines (either way worse), missing, NaN, whole and
    tiny; no line; tests missing or with infinite and NaN bounds; required or not."""
    lines = [None, Threshold(1.3, 1.6), Threshold(-0.15, -0.25), Threshold(0.0, 0.0)]
    values: list[float | None] = [None, math.nan, 0.0, -0.0, 1, 1.3, 1.45, 1.6, 2.9, -0.15,
                                  -0.2, -0.25, -3.0, 1e-9, 123456.78949, 1.00005]
    tests = [None, stats.Test(1.5, 0.9, 2.4, 0.01, 30, "20 vs 10"),
             stats.Test(1.5, -math.inf, math.inf, math.nan, 0, "0 vs 0"),
             stats.Test(0.2, math.nan, 0.5, 1.0, 3, "3 of 9"),
             # bounds about ±1000, where the interval's words change form (session 17)
             stats.Test(5.0, -1000.0, 999.9996, 0.5, 7, "7"),
             stats.Test(5.0, -999.96, 1000.0, 0.5, 7, "7"),
             stats.Test(5.0, -12345.67, 1234.5, 0.5, 7, "7"),
             stats.Test(5.0, -0.0, 1e-300, 0.5, 7, "7")]
    seen = set()
    for line in lines:
        for value in values:
            for test in tests:
                for required in (True, False):
                    for unit, note, sample in (("×", "", ""), (" pts", "n", "rated")):
                        args = ("m:x", "Label", value, line, "13 weeks", test)
                        kw = {"unit": unit, "baseline": 2.5, "note": note, "sample": sample,
                              "required": required, "relative": required}
                        got = confidence.tested(*args, **kw)   # type: ignore[arg-type]
                        want = _tested_before(*args, **kw)     # type: ignore[arg-type]
                        assert got == want, (line, value, test, required)
                        assert repr(got) == repr(want)        # -0.0 and 0.0 told apart
                        seen.add(got.status)
    assert len(seen) == 4                         # ok, watch, leak and unknown all graded


def _grade_before(line: Threshold, value: float) -> tuple[Status, float]:
    """``Threshold.grade`` as it was before its direction and span were kept (session 17)."""
    sign = 1.0 if line.higher_is_worse else -1.0
    span = abs(line.leak - line.watch) or 1.0
    past_watch = sign * (value - line.watch)
    past_leak = sign * (value - line.leak)
    if past_leak >= 0:
        return Status.LEAK, round(50 + 50 * min(1.0, past_leak / span), 1)
    if past_watch >= 0:
        return Status.WATCH, round(25 + 25 * past_watch / span, 1)
    return Status.OK, 0.0


def test_grade_keeps_its_direction_and_span_per_threshold() -> None:
    lines = [Threshold(1.3, 1.6), Threshold(-0.15, -0.25), Threshold(0.0, 0.0),
             Threshold(7.0, 6.0), Threshold(0.1, 0.3)]
    values = [-3.0, -0.25, -0.2, -0.15, -0.0, 0.0, 1e-9, 0.1, 0.2, 0.3, 1.3, 1.45, 1.6, 2.9,
              5.5, 6.0, 6.5, 7.0, 8.0, 123456.78949, math.inf, -math.inf]
    for line in lines:
        for value in values:
            for _ in range(2):                    # the second time from what was kept
                got = line.grade(value)
                assert got == _grade_before(line, value), (line, value)
                assert repr(got) == repr(_grade_before(line, value))
