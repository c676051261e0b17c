"""Segmentation's fast paths against the plain NumPy they replace: the same numbers to the last
bit, so that a check's shifts (and its JSON) cannot move."""

from __future__ import annotations

import numpy as np
import pytest

from dipstick.shifts import segment as sg


def _plain_best_split(y: np.ndarray, weeks: np.ndarray, a: int, b: int, min_size: int
                      ) -> tuple[float, int] | None:
    """The split scoring as it was: every candidate masked by the weeks it leaves."""
    k = np.arange(a + sg.MIN_POINTS, b - sg.MIN_POINTS + 1)
    k = k[(weeks[k - 1] - weeks[a] + 1 >= min_size) & (weeks[b - 1] - weeks[k] + 1
                                                       >= min_size)]
    if not len(k):
        return None
    cs = np.cumsum(y[a:b])
    left, total, nl, nn = cs[k - a - 1], cs[-1], k - a, b - a
    gain = (left / nl - (total - left) / (nn - nl)) ** 2 * nl * (nn - nl) / nn
    best = int(np.argmax(gain))
    return float(gain[best]), int(k[best])


@pytest.mark.parametrize("seed", range(3))
def test_best_split_by_bisection_equals_the_masked_candidates(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(300):
        n = int(rng.integers(6, 160))
        # weeks with gaps (quarterly pulses, missing weeks), always rising
        weeks = np.cumsum(rng.choice([1, 1, 1, 2, 13], size=n)).astype(np.int64)
        y = rng.normal(10, 2, n) + np.where(np.arange(n) > n // 2, 3.0, 0.0)
        y[rng.uniform(size=n) < 0.2] = 0.0                     # ties of a sparse count
        a = int(rng.integers(0, n - 5))
        b = int(rng.integers(a + 1, n + 1))
        min_size = int(rng.integers(1, 12))
        assert sg._best_split(y, weeks.tolist(), a, b, min_size) == _plain_best_split(
            y, weeks, a, b, min_size)


def test_moments_equal_numpys_mean_and_var_bit_for_bit() -> None:
    rng = np.random.default_rng(7)
    for n in [*range(2, 40), 157, 1000]:
        v = rng.lognormal(3, 2, n)
        assert sg._moments_of(v, 1) == (float(v.mean()), float(v.var(ddof=1)))
        assert sg._moments_of(v, 0) == (float(v.mean()), float(v.var()))
