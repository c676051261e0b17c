"""stat_arrays: the tests of dipstick.stats over arrays give the scalar tests' very floats."""

from __future__ import annotations

import math
import random

import pytest

from dipstick import stats as st
from dipstick.indicators import stat_arrays as sa


def _same(a: st.Test | tuple[float, ...] | None, b: st.Test | tuple[float, ...] | None) -> bool:
    """The same test (or estimate and p) to the last bit, NaN equal to NaN; or both None."""
    if a is None or b is None:
        return a is b
    xs, ys = ((t.estimate, t.low, t.high, t.p, t.n, t.sample) if isinstance(t, st.Test) else t
              for t in (a, b))
    return all(x == y or (isinstance(x, float) and math.isnan(x) and math.isnan(y))
               for x, y in zip(xs, ys, strict=True))


def _counts(seed: int, n: int = 6000) -> list[tuple[float, float, float, float]]:
    """Counts and exposures as the change cause has them (whole counts, days × a use ratio),
    with the edges: no count, no or negative exposure, thousands, NaN exposure."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        k1 = float(rng.choice([0, 1, 2, 3, rng.randint(0, 50), rng.randint(0, 5000)]))
        k0 = float(rng.choice([0, 1, 2, rng.randint(0, 50), rng.randint(0, 5000)]))
        t1 = rng.choice([56.0, 14.0, rng.uniform(-1, 100), rng.uniform(1, 400)
                         * rng.uniform(0.3, 3), 0.0, math.nan])
        t0 = rng.choice([56.0, 364.0, rng.uniform(-1, 400), 0.0])
        rows.append((k1, t1, k0, t0))
    return rows


def _columns(rows: list[tuple]) -> list[list]:
    return [list(c) for c in zip(*rows, strict=True)]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_rate_ratios_are_rate_ratio_one_by_one(seed: int) -> None:
    rows = _counts(seed)
    got = sa.rate_ratios(*_columns(rows))
    assert sum(g is not None for g in got) > len(rows) // 3
    for g, r in zip(got, rows, strict=True):
        assert _same(g, st.rate_ratio(*r)), r
    for g, r in zip(sa.rate_ratio_ps(*_columns(rows)), rows, strict=True):
        assert _same(g, st.rate_ratio_p(*r)), r


def _samples(seed: int, n: int = 6000) -> list[tuple[float, float, int, float, float, int]]:
    """Means, sds and sizes: too few, no spread (one side or both), a sd too small to
    square, NaN."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        n1 = rng.choice([0, 1, 2, 3, rng.randint(2, 10), rng.randint(2, 500)])
        n0 = rng.choice([0, 1, 2, 3, rng.randint(2, 10), rng.randint(2, 500)])
        m0 = rng.choice([rng.uniform(0, 10), 5.0])
        m1 = m0 if rng.random() < 0.1 else rng.uniform(0, 10)
        s1 = rng.choice([0.0, 1.0, rng.uniform(0, 3), math.nan, 1e-170])
        s0 = rng.choice([0.0, 1.0, rng.uniform(0, 3), rng.uniform(0, 1e-3), 1e-170])
        rows.append((m1, s1, n1, m0, s0, n0))
    return rows


@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("higher_is_worse", [True, False])
@pytest.mark.parametrize("null", [0.0, 0.3])
def test_welch_is_means_and_shift_of_means_one_by_one(seed: int, higher_is_worse: bool,
                                                     null: float) -> None:
    rows = _samples(seed)
    got = sa.welch(*_columns(rows), null, higher_is_worse)
    shifted = sa.welch(*_columns(rows), null, higher_is_worse, baseline_p=True)
    assert sum(g is not None for g in got) > len(rows) // 4
    for g, s, r in zip(got, shifted, rows, strict=True):
        assert _same(g, st.means(*r, null, higher_is_worse)), r
        assert _same(s, st.shift_of_means(*r, null, higher_is_worse)), r


def test_nothing_asked_nothing_answered() -> None:
    assert sa.rate_ratios([], [], [], []) == [] and sa.rate_ratio_ps([], [], [], []) == []
    assert sa.welch([], [], [], [], [], []) == []
    assert sa.rate_ratios([0.0], [56.0], [0.0], [56.0]) == [None]
