"""Formulas a reader can multiply out: significant digits, no e-notation, never "0.0 h" for a
quantity that is not zero (issue 15: Invoicing read ``4.2e+04 runs × (0.0 h rework …)``)."""

from __future__ import annotations

import re

import pytest

from dipstick.check import CheckResult
from dipstick.findings import sig


@pytest.mark.parametrize(("value", "text"), [
    (0, "0"), (0.0078, "0.0078"), (0.00767, "0.00767"), (0.033, "0.033"), (1.5, "1.5"),
    (12.34, "12.3"), (99.96, "100"), (100, "100"), (42_026.4, "42,026"), (1e7, "10,000,000"),
    (-0.25, "-0.25"),
])
def test_sig(value: float, text: str) -> None:
    assert sig(value) == text


def test_the_demo_formulas_multiply_out(demo_result: CheckResult) -> None:
    formulas = [(v.service.name, f) for v in demo_result.verdicts for f in v.findings
                if f.leak.money or f.leak.hours]
    assert formulas
    for name, f in formulas:
        text = f.leak.formula
        assert not re.search(r"\d[eE][+-]\d", text), (name, text)
        assert not re.search(r"(?<![\d.,])0\.0+ h\b", text), (name, text)
    flows = [(n, f) for n, f in formulas if f.cause == "flow"]
    assert flows
    for name, f in flows:   # runs × (rework h × rate + wait h × share × rate), per stream
        total = 0.0
        for part in f.leak.formula.split(";"):
            runs, rework, rate, wait, share = _numbers(part)
            total += runs * (rework * rate + wait * share / 100 * rate)
        assert total == pytest.approx(f.leak.money, rel=0.01), (name, f.leak.formula)


def _numbers(part: str) -> tuple[float, ...]:
    m = re.search(r"([\d,.]+) runs of \S+ × \(([\d.]+) h rework × ([\d,.]+) \+ ([\d.]+) h wait "
                  r"× (\d+)% × [\d,.]+\)", part)
    assert m, part
    runs, rework, rate, wait, share = (float(g.replace(",", "")) for g in m.groups())
    return runs, rework, rate, wait, share
