"""``tested`` builds its evidence whole (not by ``dataclasses.replace``, ~50,000 calls a check):
every field must still be the graded evidence's, with the test's added."""

from __future__ import annotations

import math
from dataclasses import fields, replace

import pytest

from dipstick import stats
from dipstick.findings import Evidence, Threshold, evidence
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
