"""Binary segmentation of a series' mean, with pruning, ramps and dating: NumPy only, no I/O.

Positions, not weeks, index ``y``; ``weeks`` (the week numbers of those positions) only set how
long a segment must last, so a quarterly pulse-check series can shift on its last two pulses
while a weekly one needs six weeks either side.
"""

from __future__ import annotations

import math
from typing import NamedTuple, Protocol

import numpy as np

from dipstick.shifts.series import FloatArray, IntArray

MIN_POINTS = 3


class Knobs(Protocol):
    """The settings segmentation reads (``detect.Params``)."""

    @property
    def min_size(self) -> int: ...
    @property
    def penalty(self) -> float: ...
    @property
    def min_effect(self) -> float: ...
    @property
    def min_confidence(self) -> float: ...
    @property
    def max_shifts(self) -> int: ...
    @property
    def ramp_k(self) -> float: ...


class Step(NamedTuple):
    at: int              # first position of the new level (after dating)
    before: float
    after: float
    confidence: float
    size: float          # |after - before| in noise standard deviations


def segment(y: FloatArray, weeks: IntArray, p: Knobs) -> list[Step]:
    """Lasting changes of the mean of ``y``, oldest first."""
    sigma = noise(y)
    if len(y) < 2 * MIN_POINTS or not sigma > 0:
        return []
    cuts = _binseg(y, weeks, sigma**2, p)
    phi = _lag1(y, cuts)
    var = sigma**2 * (1 + phi) / (1 - phi)
    cuts = _binseg(y, weeks, var, p)
    trials = max(1, len(y) - 2 * MIN_POINTS + 1)
    steps = _prune(y, cuts, var, phi, trials, p)
    return _date(y, [c for c, _ in steps], [s for _, s in steps], p)


def noise(y: FloatArray) -> float:
    """Noise standard deviation from week-to-week differences: their MAD (robust to steps and
    outliers), but at least half their standard deviation (mostly-zero counts have MAD 0)."""
    if len(y) < 3:
        return 0.0
    d = np.diff(y)
    return max(mad(d), 0.5 * float(np.std(d))) / math.sqrt(2)


def mad(v: FloatArray) -> float:
    return float(1.4826 * np.median(np.abs(v - np.median(v)))) if len(v) else 0.0


def _binseg(y: FloatArray, weeks: IntArray, var: float, p: Knobs) -> list[int]:
    """Split where the least-squares gain is largest while it beats ``penalty · log(n)`` noise
    variances; every split point of a segment is scored at once from cumulative sums."""
    n = len(y)
    threshold = p.penalty * math.log(n) * var
    cuts: list[int] = []
    stack = [(0, n)]
    while stack and len(cuts) < p.max_shifts:
        a, b = stack.pop()
        k = np.arange(a + MIN_POINTS, b - MIN_POINTS + 1)
        k = k[(weeks[k - 1] - weeks[a] + 1 >= p.min_size) & (weeks[b - 1] - weeks[k] + 1
                                                               >= p.min_size)]
        if not len(k):
            continue
        cs = np.cumsum(y[a:b])
        left, total, nl, nn = cs[k - a - 1], cs[-1], k - a, b - a
        gain = (left / nl - (total - left) / (nn - nl)) ** 2 * nl * (nn - nl) / nn
        best = int(np.argmax(gain))
        if gain[best] <= threshold:
            continue
        c = int(k[best])
        cuts.append(c)
        stack += [(a, c), (c, b)]
    return sorted(cuts)


def _prune(y: FloatArray, cuts: list[int], var: float, phi: float, trials: int, p: Knobs
           ) -> list[tuple[int, Step]]:
    """Drop the weakest shift while any is smaller than ``min_effect`` or less confident than
    ``min_confidence``. Confidence: a Welch t of the adjacent segments, deflated for
    autocorrelation, as a normal p-value times the number of splits tried (Bonferroni)."""
    cuts = list(cuts)
    while True:
        bounds = [0, *cuts, len(y)]
        steps = []
        for i, c in enumerate(cuts):
            a, b = y[bounds[i]:c], y[c:bounds[i + 2]]
            m1, m2 = float(a.mean()), float(b.mean())
            se = math.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b)) or math.sqrt(var)
            z = abs(m2 - m1) / se * math.sqrt((1 - phi) / (1 + phi))
            conf = 1.0 - min(1.0, math.erfc(z / math.sqrt(2)) * trials)
            steps.append((c, Step(c, m1, m2, round(conf, 4), abs(m2 - m1) / math.sqrt(var))))
        failing = [i for i, (_, s) in enumerate(steps)
                   if s.confidence < p.min_confidence
                   or abs(s.after - s.before) < p.min_effect * max(abs(s.before), 1e-12)]
        if not failing:
            return steps
        cuts.pop(min(failing, key=lambda i: steps[i][1].size))


def _date(y: FloatArray, cuts: list[int], steps: list[Step], p: Knobs) -> list[Step]:
    """Date each shift where the series first left its old level; a staircase of shifts in
    one direction that a ramp explains as well becomes one shift dated at the ramp's start."""
    bounds = [0, *cuts, len(y)]
    out: list[Step] = []
    i = 0
    while i < len(steps):
        j = i
        while j + 1 < len(steps) and (steps[j + 1].after > steps[j + 1].before) == (
                steps[i].after > steps[i].before):
            j += 1
        ramp = _hinge(y, bounds[i], cuts[i:j + 1], steps[i:j + 1], bounds[j + 2])
        if ramp is None:
            for k in range(i, j + 1):
                s = steps[k]
                out.append(s._replace(at=_onset(y, bounds[k], cuts[k], s, p)))
        else:
            group = steps[i:j + 1]
            out.append(Step(ramp, group[0].before, group[-1].after,
                            max(s.confidence for s in group), sum(s.size for s in group)))
        i = j + 1
    return out


def _hinge(y: FloatArray, lo: int, cuts: list[int], steps: list[Step], hi: int) -> int | None:
    """The start of a ramp over ``y[lo:hi]`` if flat-then-linear fits the span better than one
    step does (or about as well as a staircase of several); else ``None``: a step stays a
    step, and separate steps stay separate."""
    seg = y[lo:hi]
    levels = [steps[0].before] + [s.after for s in steps]
    edges = [lo, *cuts, hi]
    stair = np.concatenate([np.full(b - a, m) for a, b, m in zip(edges[:-1], edges[1:],
                                                                 levels, strict=True)])
    rss_stair = float(((seg - stair) ** 2).sum())
    cands = np.arange(MIN_POINTS, cuts[0] - lo + 1)
    if not len(cands):
        return None
    t = np.arange(len(seg), dtype=np.float64)
    x = np.maximum(0.0, t[None, :] - cands[:, None])            # candidates × positions
    xc = x - x.mean(axis=1, keepdims=True)
    yc = seg - seg.mean()
    sxx = (xc**2).sum(axis=1)
    beta = (xc * yc).sum(axis=1) / np.where(sxx > 0, sxx, 1.0)
    rss = ((yc - beta[:, None] * xc) ** 2).sum(axis=1)
    best = int(np.argmin(rss))
    slack = 1.25 if len(steps) > 1 else 1.0
    return lo + int(cands[best]) if rss[best] < slack * rss_stair else None


def _onset(y: FloatArray, lo: int, cut: int, s: Step, p: Knobs) -> int:
    """The position after the last zero of a one-sided CUSUM from the old level, run up to
    the change point (reference ``ramp_k`` of the shift): where the level started to move."""
    d = math.copysign(1.0, s.after - s.before)
    k = p.ramp_k * abs(s.after - s.before)
    g, last_zero = 0.0, cut - 1
    for t in range(lo, cut):
        g = max(0.0, g + d * (float(y[t]) - s.before) - k)
        if g == 0.0:
            last_zero = t
    return max(last_zero + 1, lo + MIN_POINTS)


def _lag1(y: FloatArray, cuts: list[int]) -> float:
    """Lag-1 autocorrelation of the residuals around segment medians, in [0, 0.8]."""
    r = y.copy()
    for a, b in zip([0, *cuts], [*cuts, len(y)], strict=True):
        r[a:b] -= np.median(r[a:b])
    den = float(np.dot(r, r))
    phi = float(np.dot(r[1:], r[:-1])) / den if den > 0 else 0.0
    return min(0.8, max(0.0, phi))
