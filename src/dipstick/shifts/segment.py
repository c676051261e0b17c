"""Binary segmentation of a series' mean, with pruning, ramps and dating: NumPy only, no I/O.

Positions, not weeks, index ``y``; ``weeks`` (the week numbers of those positions) only set how
long a segment must last, so a quarterly pulse-check series can shift on its last two pulses
while a weekly one needs six weeks either side.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from functools import lru_cache
from typing import NamedTuple, Protocol

import numpy as np

from dipstick.shifts.series import FloatArray, IntArray

MIN_POINTS = 3
FIRST_PASS = 4       # change points taken out before the residuals' autocorrelation is read
RAMP_REACH = 20      # a ramp may start (end) this many points before (after) the change point
# 0.0, 1.0, 2.0, …: the sizes of a split's left parts, sliced by ``_best_split`` (~30,000
# calls a check), not made each call; whole numbers, so the same floats as the integers
_SIZES = np.arange(4096, dtype=np.float64)
_SIZES.flags.writeable = False


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
    def ramp_fit(self) -> float: ...


class Step(NamedTuple):
    at: int              # first position of the new level (after dating)
    before: float
    after: float
    confidence: float
    size: float          # |after - before| in noise standard deviations


Split = tuple[float, int]     # the largest least-squares gain of one split, and where


class Undated(NamedTuple):
    """Segmentation's steps before dating: the change points, their steps there, and the
    noise variance dating weighs a ramp with. Dating is most of segmentation's cost and moves
    a step only earlier (at most :data:`MIN_POINTS` later than its change point), and never
    changes its direction: a question about the last step can often be answered without it
    (``ShiftIndex.last_bad``)."""

    cuts: list[int]
    steps: list[Step]
    var: float


NONE = Undated([], [], 0.0)


class Begun(NamedTuple):
    """Segmentation's first pass: the noise, the change points it took out before reading the
    residuals' autocorrelation, each segment's best split (``splits``: the second pass reuses
    them), and ``last_cut``: no step can end up after this position (``-1``: no step at all).

    The last change point of any pass is the best split of a segment that ends the series: of
    the whole series, or of the part after that split, and so on (the right-hand chain). A
    pass takes a link of that chain only if it took the links before it and its gain beats
    the pass's threshold; the second pass's threshold is never below the first's (its variance
    ``σ² (1 + φ) / (1 − φ)`` with ``φ`` in [0, 0.8] is at least ``σ²``, and rounding is
    monotone), and pruning only drops change points. So the last link whose gain and those of
    the links before it beat the first pass's threshold bounds every later pass
    (``ShiftIndex.last_bad`` answers most questions from it alone)."""

    sigma: float
    cuts: list[int]
    splits: dict[tuple[int, int], Split | None]
    weeks: list[int]
    last_cut: int


def segment(y: FloatArray, weeks: IntArray, p: Knobs, first: Split | None = None
            ) -> list[Step]:
    """Lasting changes of the mean of ``y``, oldest first. ``first``: the best split of the
    whole series when the caller has scored it already (the batched screen does, by the same
    arithmetic as :func:`_best_split`)."""
    return dated(y, undated(y, weeks, p, first), p)


def dated(y: FloatArray, found: Undated, p: Knobs) -> list[Step]:
    """The steps of :func:`undated`, each dated where the series first left its old level."""
    return _date(y, found.cuts, found.steps, found.var, p) if found.steps else []


def undated(y: FloatArray, weeks: IntArray, p: Knobs, first: Split | None = None,
            begun: Begun | None = None, more: Second | None = None) -> Undated:
    """:func:`segment` up to dating: the pruned change points and their steps (``begun``: the
    first pass, when :func:`begin` has run it; ``more``: :func:`second` of it)."""
    if begun is None:
        begun = begin(y, weeks, p, first)
    if len(y) < 2 * MIN_POINTS or not begun.sigma > 0:
        return NONE
    more = second(y, begun, p) if more is None else more
    cuts = _binseg(y, begun.weeks, more.var, p, p.max_shifts, begun.splits)
    trials = max(1, len(y) - 2 * MIN_POINTS + 1)
    steps = _prune(y, cuts, more.var, more.phi, trials, p)
    return Undated([c for c, _ in steps], [s for _, s in steps], more.var)


class Second(NamedTuple):
    """What the second pass of :func:`undated` reads from the first: the residuals' lag-1
    autocorrelation (level changes aside), the noise variance inflated for it, and
    ``last_cut``, the :class:`Begun` bound at that variance — the last link of the right-hand
    chain whose gain, and those of the links before it, beat the second pass's own threshold:
    no change point of that pass, so no step, is after it (``-1``: no step at all)."""

    phi: float
    var: float
    last_cut: int


def second(y: FloatArray, begun: Begun, p: Knobs) -> Second:
    """The second pass's variance and bound (for a series :func:`begin` found noise in).
    The bound costs a few look-ups: its chain is a prefix of the first pass's, whose splits
    ``begun`` holds."""
    phi = _lag1(y, begun.cuts)
    var = begun.sigma**2 * (1 + phi) / (1 - phi)
    return Second(phi, var, _last_link(y, begun.weeks, var, p, begun.splits))


def begin(y: FloatArray, weeks: IntArray, p: Knobs, first: Split | None = None,
          sigma: float | None = None, chain: Iterable[tuple[int, Split | None]] = ()
          ) -> Begun:
    """:func:`undated`'s first pass (``sigma``: ``noise(y)``, when the caller has it to the
    last bit, as the batched screen does; ``chain``: best splits of segments ``(a, len(y))``
    it has scored as :func:`_best_split` does, the right-hand chain's links — a pass splits
    those first)."""
    sigma = noise(y) if sigma is None else sigma
    if len(y) < 2 * MIN_POINTS or not sigma > 0:
        return Begun(sigma, [], {}, [], -1)
    n = len(y)
    splits: dict[tuple[int, int], Split | None] = {(a, n): found for a, found in chain}
    if first is not None:                       # both passes split alike
        splits[(0, n)] = first
    wl = weeks.tolist()
    cuts = _binseg(y, wl, sigma**2, p, FIRST_PASS, splits)
    return Begun(sigma, cuts, splits, wl, _last_link(y, wl, sigma**2, p, splits))


def _last_link(y: FloatArray, weeks: list[int], var: float, p: Knobs,
               splits: dict[tuple[int, int], Split | None]) -> int:
    """The last link of the right-hand chain of splits (see :class:`Begun`) that
    :func:`_binseg` at ``var`` would take without a limit on cuts; ``-1`` if none."""
    n, a, last = len(y), 0, -1
    threshold = _threshold(n, var, p)
    while True:
        if (a, n) in splits:
            found = splits[(a, n)]
        else:
            found = splits[(a, n)] = _best_split(y, weeks, a, n, p.min_size)
        if found is None or found[0] <= threshold:
            return last
        last = a = found[1]


def noise(y: FloatArray) -> float:
    """Noise standard deviation from week-to-week differences: their MAD (robust to steps and
    outliers), but at least half their standard deviation (mostly-zero counts have MAD 0)."""
    if len(y) < 3:
        return 0.0
    d = y[1:] - y[:-1]
    return max(mad(d), 0.5 * math.sqrt(_moments_of(d, 0)[1])) / math.sqrt(2)


def mad(v: FloatArray) -> float:
    """Median absolute deviation, scaled to a normal standard deviation."""
    return 1.4826 * median(np.abs(v - median(v))) if len(v) else 0.0


def median(v: FloatArray) -> float:
    """``np.median`` without its overhead (it dominated detection time on short series)."""
    n = len(v)
    lo, hi = (n - 1) // 2, n // 2
    part = np.partition(v, [lo, hi])
    return 0.5 * float(part[lo] + part[hi])


def _binseg(y: FloatArray, weeks: list[int], var: float, p: Knobs, most: int,
            splits: dict[tuple[int, int], tuple[float, int] | None] | None = None
            ) -> list[int]:
    """Split where the least-squares gain is largest while it beats ``penalty · log(n)`` noise
    variances; every split point of a segment is scored at once from cumulative sums.
    ``splits`` keeps each segment's best split (it does not depend on ``var``) for the next
    pass over the same ``y``."""
    n = len(y)
    threshold = _threshold(n, var, p)
    cuts: list[int] = []
    stack = [(0, n)]
    splits = {} if splits is None else splits
    while stack and len(cuts) < most:
        a, b = stack.pop()
        if (a, b) in splits:
            found = splits[(a, b)]
        else:
            found = splits[(a, b)] = _best_split(y, weeks, a, b, p.min_size)
        if found is None or found[0] <= threshold:
            continue
        c = found[1]
        cuts.append(c)
        stack += [(a, c), (c, b)]
    return sorted(cuts)


def _threshold(n: int, var: float, p: Knobs) -> float:
    """The gain a split of a series of ``n`` points must beat at noise variance ``var``."""
    return p.penalty * math.log(n) * var


def _best_split(y: FloatArray, weeks: list[int], a: int, b: int, min_size: int
                ) -> tuple[float, int] | None:
    """The largest least-squares gain of one split of ``y[a:b]`` and where; ``None`` if no
    split leaves ``min_size`` weeks on both sides. The weeks rise, so the splits allowed are
    one run ``first..last``, found by bisection (~30,000 calls a check: a mask over
    every candidate cost more than the gains)."""
    first = max(a + MIN_POINTS, bisect_left(weeks, weeks[a] + min_size - 1) + 1)
    last = min(b - MIN_POINTS, bisect_right(weeks, weeks[b - 1] - min_size + 1) - 1)
    if first > last:
        return None
    cs = np.cumsum(y[a:b])
    nn = b - a
    nl = _SIZES[first - a:last - a + 1] if last - a < len(_SIZES) else \
        np.arange(first - a, last - a + 1, dtype=np.float64)
    nr = nn - nl
    left = cs[first - a - 1:last - a]
    # ``(left / nl - (total - left) / nr) ** 2 * nl * nr / nn`` (``batch._screen``'s gains),
    # the same operations in the same order, in place: a quarter less per call
    gain = left / nl
    right = cs[-1] - left
    right /= nr
    gain -= right
    gain *= gain
    gain *= nl
    gain *= nr
    gain /= nn
    best = int(gain.argmax())
    return float(gain[best]), first + best


def _prune(y: FloatArray, cuts: list[int], var: float, phi: float, trials: int, p: Knobs
           ) -> list[tuple[int, Step]]:
    """Drop the weakest shift while any is smaller than ``min_effect`` or less confident than
    ``min_confidence``. Confidence: a Welch t of the adjacent segments, deflated for
    autocorrelation, as a normal p-value times the number of splits tried (Bonferroni)."""
    cuts = list(cuts)
    moments: dict[tuple[int, int], tuple[float, float]] = {}   # segments outlive a drop
    while True:
        bounds = [0, *cuts, len(y)]
        steps = []
        for i, c in enumerate(cuts):
            m1, v1 = _moments(y, bounds[i], c, moments)
            m2, v2 = _moments(y, c, bounds[i + 2], moments)
            se = math.sqrt(v1 / (c - bounds[i]) + v2 / (bounds[i + 2] - c)) or math.sqrt(var)
            z = abs(m2 - m1) / se * math.sqrt((1 - phi) / (1 + phi))
            conf = 1.0 - min(1.0, math.erfc(z / math.sqrt(2)) * trials)
            steps.append((c, Step(c, m1, m2, round(conf, 4), abs(m2 - m1) / math.sqrt(var))))
        failing = [i for i, (_, s) in enumerate(steps)
                   if s.confidence < p.min_confidence
                   or abs(s.after - s.before) < p.min_effect * max(abs(s.before), 1e-12)]
        if not failing:
            return steps
        cuts.pop(min(failing, key=lambda i: steps[i][1].size))


def _moments(y: FloatArray, a: int, b: int, seen: dict[tuple[int, int], tuple[float, float]]
             ) -> tuple[float, float]:
    """Mean and sample variance of ``y[a:b]``, each segment computed once."""
    found = seen.get((a, b))
    if found is None:
        found = seen[(a, b)] = _moments_of(y[a:b], 1)
    return found


def _moments_of(v: FloatArray, ddof: int) -> tuple[float, float]:
    """``(v.mean(), v.var(ddof=ddof))`` by the same NumPy steps (pairwise sums, the same
    roundings) without the wrappers, which cost more than the sums on short segments."""
    n = len(v)
    mean = float(np.add.reduce(v)) / n
    d = v - mean
    return mean, float(np.add.reduce(d * d)) / max(n - ddof, 0)


def _date(y: FloatArray, cuts: list[int], steps: list[Step], var: float, p: Knobs
          ) -> list[Step]:
    """Date each shift where the series first left its old level, by fitting a ramp
    (flat, linear, flat — a step is the steepest ramp) around it; a staircase of shifts in one
    direction that one ramp explains about as well becomes one shift dated at its start."""
    bounds = [0, *cuts, len(y)]
    out: list[Step] = []
    i = 0
    while i < len(steps):
        j = i
        while j + 1 < len(steps) and (steps[j + 1].after > steps[j + 1].before) == (
                steps[i].after > steps[i].before):
            j += 1
        group = steps[i:j + 1]
        start = _ramp(y, bounds[i], cuts[i:j + 1], group, bounds[j + 2], var, p)
        if start is not None:
            out.append(Step(start, group[0].before, group[-1].after,
                            max(s.confidence for s in group), sum(s.size for s in group)))
        else:
            for k in range(i, j + 1):
                at = _ramp(y, bounds[k], [cuts[k]], [steps[k]], bounds[k + 1 + 1], var, p)
                out.append(steps[k]._replace(at=cuts[k] if at is None else at))
        i = j + 1
    return out


def _ramp(y: FloatArray, lo: int, cuts: list[int], steps: list[Step], hi: int, var: float,
          p: Knobs) -> int | None:
    """The start of the least-squares ramp ``y[lo:hi]`` = a, then linear from ``t0`` to
    ``t1``, then b. For one step: ``t0`` (a ramp wider than a week only when it beats the
    step by more than ``ramp_fit · log(n)`` noise variances — BIC for its extra parameter).
    For a staircase: ``t0`` if the ramp leaves at most 1.25 × the staircase's error, else
    ``None`` (separate steps stay separate)."""
    lo, hi = max(lo, cuts[0] - 2 * RAMP_REACH), min(hi, cuts[-1] + 2 * RAMP_REACH)
    seg = y[lo:hi]
    n = len(seg)
    basis = _ramps(n, cuts[0] - lo, cuts[-1] - lo)
    if basis is None:
        return None
    t0, xc, den, steps_at = basis
    yc = seg - float(np.add.reduce(seg)) / n                    # seg.mean(), unwrapped
    work = np.multiply(xc, yc)
    beta = np.add.reduce(work, axis=1) / den
    np.multiply(xc, beta[:, None], out=work)
    np.subtract(yc, work, out=work)
    rss = np.add.reduce(np.multiply(work, work, out=work), axis=1)
    if len(steps) > 1:
        levels = [steps[0].before] + [s.after for s in steps]
        edges = [lo, *cuts, hi]
        stair = np.concatenate([np.full(b - a, m) for a, b, m in zip(edges[:-1], edges[1:],
                                                                     levels, strict=True)])
        best = int(np.argmin(rss))
        return lo + int(t0[best]) if rss[best] <= 1.25 * float(((seg - stair) ** 2).sum()) \
            else None
    best_step = int(steps_at[np.argmin(rss[steps_at])]) if len(steps_at) else None
    best = int(np.argmin(rss))
    if best_step is None or rss[best_step] - rss[best] > p.ramp_fit * math.log(n) * var:
        return lo + int(t0[best])
    return lo + int(t0[best_step])


@lru_cache(maxsize=128)
def _ramps(n: int, first: int, last: int
           ) -> tuple[IntArray, FloatArray, FloatArray, IntArray] | None:
    """The candidate ramps of ``_ramp`` over ``n`` points around change points at ``first``
    and ``last``: their starts, centred shapes (one row each), those rows' sums of squares
    (1 where 0: the divisor of the slopes) and which rows are steps (one week wide). They do
    not depend on the values, and most windows are alike (40 points either side of one change
    point), so they are built once per shape (read-only), in place where NumPy allows."""
    t0s = np.arange(max(MIN_POINTS, first - RAMP_REACH),
                    min(first + MIN_POINTS, n - MIN_POINTS) + 1)
    t1s = np.arange(max(MIN_POINTS + 1, last), min(n - MIN_POINTS, last + RAMP_REACH) + 1)
    t0, t1 = np.meshgrid(t0s, t1s, indexing="ij")
    ok = (t1 > t0) & (t1 >= last)
    t0, t1 = t0[ok], t1[ok]
    if not len(t0):
        return None
    t = np.arange(n, dtype=np.float64)
    xc = t[None, :] - t0[:, None]
    xc += 1
    xc /= (t1 - t0)[:, None]
    np.clip(xc, 0.0, 1.0, out=xc)
    mean = np.add.reduce(xc, axis=1, keepdims=True)
    mean /= n
    xc -= mean
    sxx = np.add.reduce(np.square(xc), axis=1)
    den = np.where(sxx > 0, sxx, 1.0)
    steps_at = np.flatnonzero(t1 - t0 == 1)
    for a in (t0, xc, den, steps_at):
        a.flags.writeable = False
    return t0, xc, den, steps_at


def _lag1(y: FloatArray, cuts: list[int]) -> float:
    """Lag-1 autocorrelation of the residuals around segment medians, in [0, 0.8]."""
    r = y.copy()
    for a, b in zip([0, *cuts], [*cuts, len(y)], strict=True):
        r[a:b] -= median(r[a:b])
    den = float(np.dot(r, r))
    phi = float(np.dot(r[1:], r[:-1])) / den if den > 0 else 0.0
    return min(0.8, max(0.0, phi))
