"""``segment._best_split`` in place (session 19): the gains of the formula it replaced, the
same operations in the same order, to the last bit (the batched screen and chain scorers
compute them that way and must agree with it), on nasty values and any segment."""

from __future__ import annotations

from bisect import bisect_left, bisect_right

import numpy as np
import pytest

from dipstick.shifts.segment import _SIZES, MIN_POINTS, _best_split


def _before(y: np.ndarray, weeks: list[int], a: int, b: int, min_size: int
            ) -> tuple[float, int] | None:
    """Session 18's ``_best_split``, as it was."""
    first = max(a + MIN_POINTS, bisect_left(weeks, weeks[a] + min_size - 1) + 1)
    last = min(b - MIN_POINTS, bisect_right(weeks, weeks[b - 1] - min_size + 1) - 1)
    if first > last:
        return None
    cs = np.cumsum(y[a:b])
    left, total, nl, nn = cs[first - a - 1:last - a], cs[-1], np.arange(first - a,
                                                                         last - a + 1), b - a
    gain = (left / nl - (total - left) / (nn - nl)) ** 2 * nl * (nn - nl) / nn
    best = int(gain.argmax())
    return float(gain[best]), first + best


def _same(x: tuple[float, int] | None, y: tuple[float, int] | None) -> bool:
    if x is None or y is None:
        return x is y
    return x[1] == y[1] and np.float64(x[0]).tobytes() == np.float64(y[0]).tobytes()


@pytest.mark.parametrize("seed", [1, 2])
def test_the_gains_are_the_formulas_to_the_last_bit(seed: int) -> None:
    rng = np.random.default_rng(seed)
    tried = found = 0
    for _ in range(2000):
        n = int(rng.choice([1, 2, 6, 7, 20, 157, 300, 4200]))
        scale = float(rng.choice([1.0, 1e-9, 1e9, 3.0]))
        y = rng.normal(size=n) * scale
        kind = rng.integers(6)
        if kind == 1:
            y = np.round(y)                             # ties, zeros
        elif kind == 2:
            y[rng.integers(n, size=max(1, n // 10))] = rng.choice([np.nan, np.inf, -np.inf,
                                                                    -0.0, 0.0])
        elif kind == 3:
            y[:] = -0.0 if rng.random() < 0.5 else 7.0  # constant
        elif kind == 4:
            y[n // 2:] += 5 * scale                     # a step
        weeks = np.cumsum(rng.integers(1, 4, size=n)).tolist() if rng.random() < 0.5 \
            else list(range(n))
        a = int(rng.integers(0, n))
        b = int(rng.integers(a + 1, n + 1))
        for min_size in (1, 3, 6):
            got, want = _best_split(y, weeks, a, b, min_size), _before(y, weeks, a, b, min_size)
            assert _same(got, want), (n, a, b, min_size, got, want)
            tried += 1
            found += want is not None
    assert found > tried // 4
    assert not _SIZES.flags.writeable


def test_long_segments_past_the_table() -> None:
    y = np.arange(5000.0) % 7 + (np.arange(5000) > 4500)
    weeks = list(range(5000))
    got, want = _best_split(y, weeks, 0, 5000, 6), _before(y, weeks, 0, 5000, 6)
    assert _same(got, want) and got is not None and got[1] > len(_SIZES)
