""":mod:`dipstick.stats`' tests over arrays: thousands of them at once, the same floats.

Why: the change cause runs four tests per recent change (~4,600 changes on the large demo):
one by one, their Python and SciPy's per-call overhead were a quarter of its CPU. Here each
test's arithmetic is NumPy's on float64 — the same IEEE operations in the same order as the
scalar code (``+ - * /`` and ``sqrt`` round alike) — and SciPy's special functions are
called once on whole arrays (the same C kernel per element, the same loop types as a scalar
call). The one exception is a square that the scalar code takes with Python's ``** 2``
(libm's ``pow``, which can round unlike ``x * x``): it stays Python's, per element.
tests/test_stat_arrays.py holds every function to its scalar definition, bit for bit.
"""

from __future__ import annotations

from typing import Any, Literal, overload

import numpy as np
import numpy.typing as npt

from dipstick import stats as st
from dipstick.stats import Test

FloatArray = npt.NDArray[np.float64]
Floats = FloatArray | list[float]


def _special() -> Any:
    return st._special or st._sp()


def _pow2(x: FloatArray) -> FloatArray:
    """``v ** 2`` of each element, as Python computes it (libm's ``pow``)."""
    return np.array([v ** 2 for v in x.tolist()], dtype=np.float64)


def rate_ratios(k1: Floats, t1: Floats, k0: Floats, t0: Floats) -> list[Test | None]:
    """``[rate_ratio(*x) for x in zip(k1, t1, k0, t0)]`` (null 1, higher is worse)."""
    return _rate_ratios(k1, t1, k0, t0, interval=True)


def rate_ratio_ps(k1: Floats, t1: Floats, k0: Floats, t0: Floats
                  ) -> list[tuple[float, float] | None]:
    """``[rate_ratio_p(*x) for x in zip(k1, t1, k0, t0)]`` (null 1, higher is worse)."""
    return _rate_ratios(k1, t1, k0, t0, interval=False)


@overload
def _rate_ratios(k1: Floats, t1: Floats, k0: Floats, t0: Floats, *, interval: Literal[True]
                 ) -> list[Test | None]: ...


@overload
def _rate_ratios(k1: Floats, t1: Floats, k0: Floats, t0: Floats, *, interval: Literal[False]
                 ) -> list[tuple[float, float] | None]: ...


def _rate_ratios(k1: Floats, t1: Floats, k0: Floats, t0: Floats, *, interval: bool
                 ) -> list[Test | None] | list[tuple[float, float] | None]:
    a1, a0 = np.rint(np.asarray(k1, dtype=np.float64)), np.rint(np.asarray(k0, dtype=np.float64))
    e1, e0 = np.asarray(t1, dtype=np.float64), np.asarray(t0, dtype=np.float64)
    # as the scalar test's ``if``: a NaN exposure passes it
    ok = ~((e1 <= 0) | (e0 <= 0) | (a1 < 0) | (a0 < 0) | (a1 + a0 == 0))
    at, size = np.flatnonzero(ok), len(ok)
    out: list[Test | None] = [None] * size
    if not len(at):
        return out
    a1, a0, e1, e0 = a1[at], a0[at], e1[at], e0[at]
    i1, i0 = a1.astype(np.int64), a0.astype(np.int64)
    n = i1 + i0
    special = _special()
    with np.errstate(divide="ignore", invalid="ignore"):
        p0 = 1.0 * e1 / (1.0 * e1 + e0)
        est = np.where(i0 != 0, (a1 / e1) / (a0 / e0), np.inf)
        p = np.where(i1 <= 0, 1.0, special.bdtrc(i1 - 1, n, p0))
        if interval:   # Clopper–Pearson's bounds of the share, mapped to the ratio
            a = (1 - 0.95) / 2
            lo = np.where(i1 <= 0, 0.0, special.betaincinv(a1, n - i1 + 1, a))
            hi = np.where(i1 >= n, 1.0, special.betaincinv(a1 + 1, n - i1, 1 - a))
            scale = e0 / e1
            low = np.where(lo >= 1, np.inf, (lo / (1 - lo)) * scale).tolist()
            high = np.where(hi >= 1, np.inf, (hi / (1 - hi)) * scale).tolist()
        else:
            bare: list[tuple[float, float] | None] = [None] * size
            for j, q, w in zip(at.tolist(), est.tolist(), p.tolist(), strict=True):
                bare[j] = (q, w)
            return bare
    for j, q, u, v, w, x, c1, c0 in zip(at.tolist(), est.tolist(), low, high, p.tolist(),
                                        n.tolist(), i1.tolist(), i0.tolist(), strict=True):
        out[j] = Test(q, u, v, w, x, f"{c1} vs {c0}")
    return out


def welch(m1: Floats, s1: Floats, n1: list[int], m0: Floats, s0: Floats, n0: list[int],
          null: float = 0.0, higher_is_worse: bool = True, *, baseline_p: bool = False
          ) -> list[Test | None]:
    """``[means(*x, null, higher_is_worse) for x in zip(m1, s1, n1, m0, s0, n0)]``, with
    whole counts ``n1``, ``n0`` and NaN for a missing mean or sd; with ``baseline_p``,
    :func:`~dipstick.stats.shift_of_means` instead (the p of no change from the baseline's
    spread where it has one)."""
    a1, b1, a0, b0 = (np.asarray(x, dtype=np.float64) for x in (m1, s1, m0, s0))
    c1, c0 = np.asarray(n1, dtype=np.int64), np.asarray(n0, dtype=np.int64)
    ok = (c1 >= 2) & (c0 >= 2) & np.isfinite(a1) & np.isfinite(b1) & np.isfinite(a0) \
        & np.isfinite(b0)
    out: list[Test | None] = [None] * len(a1)
    at = np.flatnonzero(ok)
    if not len(at):
        return out
    a1, b1, a0, b0, c1, c0 = a1[at], b1[at], a0[at], b0[at], c1[at], c0[at]
    v1, v0 = b1 * b1 / c1, b0 * b0 / c0
    se = np.sqrt(v1 + v0)
    d = a1 - a0
    flat = se == 0
    special = _special()
    p, q = np.zeros(len(at)), np.zeros(len(at))
    steep = np.flatnonzero(~flat)
    if len(steep):
        v, w, n, m = v1[steep], v0[steep], c1[steep], c0[steep]
        df = _pow2(v + w) / (v * v / (n - 1) + w * w / (m - 1))
        t = (d[steep] - null) / se[steep]
        p[steep] = special.stdtr(df, -t if higher_is_worse else t)
        q[steep] = [st._t975(x) for x in df.tolist()]
    # the p of no change from the baseline's spread (shift_of_means), where it applies
    base, by_base = np.zeros(len(at)), np.zeros(len(at), dtype=bool)
    if baseline_p:
        shift = np.flatnonzero((c0 >= 3) & (b0 > 0))
        if len(shift):
            tb = (d[shift] - null) / (b0[shift] * np.sqrt(1 / c1[shift] + 1 / c0[shift]))
            base[shift] = special.stdtr((c0[shift] - 1).astype(np.float64),
                                        -tb if higher_is_worse else tb)
            by_base[shift] = True
    for j, f, dd, s, pp, qq, bp, b, x, y in zip(at.tolist(), flat.tolist(), d.tolist(),
                                                se.tolist(), p.tolist(), q.tolist(),
                                                base.tolist(), by_base.tolist(), c1.tolist(),
                                                c0.tolist(), strict=True):
        if f:   # no spread: worse or not, beyond float noise (engines sum differently)
            low = high = dd
            pp = 0.0 if st._beyond(dd, null, higher_is_worse) else 1.0
        else:
            low, high = dd - qq * s, dd + qq * s
        out[j] = Test(dd, low, high, bp if b else pp, x + y, f"{x} vs {y}")
    return out
