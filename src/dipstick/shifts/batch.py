"""Shift detection for many series at once, with the same shifts as ``detect`` one by one.

A check on 2,000 services asks for ~16,000 series; one at a time, each cost ~0.6 ms, most of
it NumPy's per-call overhead on ~157 values. Here the series that share their weeks (nearly
all of a check's: every service's usage weeks) are stacked into one 2-D array and adjusted
(season, outliers) in one pass, and the first split of binary segmentation is scored for all
of them at once. A series whose best first split cannot beat the penalty has no shift, which
is decided here (``_screen`` says why that is exact); only the others go through the
one-series segmentation (``detect.shifts_in``), on rows adjusted here that are bitwise equal
to ``detect.adjust``'s (tests/test_shifts_batch.py compares both paths).
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import as_strided

from dipstick.shifts.detect import (
    DEFAULT,
    Params,
    Shift,
    _day_of_year,
    long_enough,
    shifts_in,
)
from dipstick.shifts.segment import MIN_POINTS, Split, _threshold
from dipstick.shifts.series import EPOCH_MONDAY, FloatArray, IntArray, Series

Matrix = npt.NDArray[np.float64]          # one series per row
# The screen drops a series only when its best first split is below the threshold by this
# relative margin, so a last-bit difference in a sum could never flip a decision.
MARGIN = 1e-9
# Series adjusted together: the running medians' windows of a block stay in the CPU caches
# (all 9,000 rows of a group at once were 4× slower).
CHUNK = 512
# Rows whose running-median windows are selected at a time (one reused buffer of ~1 MB)
WINDOW_ROWS = 32
# Up to this many years a season's table is sorted by a network (``_sort_years``)
SORTED_YEARS = 8
# From this many rows a wide running median goes by blocks (``_median_by_blocks``): its ~300
# NumPy calls a block cost more than ``np.partition`` on fewer rows
BLOCK_ROWS = 128


class Ready(NamedTuple):
    """A series that may shift: its kept weeks, adjusted values and best first split (gain,
    position; segmentation's own first step, already scored here), for ``shifts_in``."""

    weeks: IntArray
    values: FloatArray
    first: Split | None
    sigma: float | None = None      # ``segment.noise(values)``, to the last bit
    last_cut: int | None = None     # ``segment.begin(…).last_cut``, to the position
    # the block's chain links (``last_links``) and this series' row among them
    links: tuple[Links, int] | None = None

    def chain(self) -> list[tuple[int, Split | None]]:
        """The best splits of the right-hand chain's segments ``(a, len(values))`` after the
        first, as ``segment._best_split`` scores them: segmentation's next look-ups
        (``segment.begin``). Read out only for the few series segmented."""
        return [] if self.links is None else self.links[0].of(self.links[1])


class Links(NamedTuple):
    """The links ``last_links`` scored for a block's rows, one entry per step: where each
    row is among that step's rows (−1: off the chain), where each of those rows' link starts,
    whether it has a split at all, and its best gain and cut."""

    steps: list[tuple[IntArray, IntArray, npt.NDArray[np.bool_], FloatArray, IntArray]]

    def of(self, row: int) -> list[tuple[int, Split | None]]:
        out: list[tuple[int, Split | None]] = []
        for where, starts, ok, gains, cuts in self.steps:
            i = where[row]
            if i < 0:                               # off the chain from here on
                break
            out.append((int(starts[i]), (float(gains[i]), int(cuts[i])) if ok[i] else None))
        return out


def detect_many(series: Sequence[Series], params: Params = DEFAULT) -> list[list[Shift]]:
    """The shifts of each series, as ``[detect(s, params) for s in series]`` gives them."""
    return [[] if r is None else shifts_in(s, r.weeks, r.values, params, r.first)
            for s, r in zip(series, screen(series, params), strict=True)]


def screen(series: Sequence[Series], params: Params = DEFAULT, same_weeks: bool = False
           ) -> list[Ready | None]:
    """Per series, ``None`` when it provably has no shift, else what segmentation needs
    (``same_weeks``: the caller has grouped them by :func:`weeks_key` already)."""
    out: list[Ready | None] = [None] * len(series)
    groups: dict[bytes, list[int]] = defaultdict(list)
    if same_weeks:      # whether a series is long enough depends on its weeks alone
        if series and long_enough(series[0], params):
            groups[b""] = list(range(len(series)))
    else:
        for i, s in enumerate(series):
            if long_enough(s, params):
                groups[weeks_key(s)].append(i)
    for same in groups.values():
        for start in range(0, len(same), CHUNK):
            _screen_rows(series, same[start:start + CHUNK], params, out)
    return out


def weeks_key(series: Series) -> bytes:
    """The weeks of ``series`` as a key: series with equal keys are screened as one array."""
    return series.index.astype(np.int64, copy=False).tobytes()


def _screen_rows(series: Sequence[Series], rows: list[int], params: Params,
                 out: list[Ready | None]) -> None:
    index = series[rows[0]].index
    x = np.stack([series[i].values for i in rows]).astype(np.float64, copy=False)
    y, keep = adjust_many(index, x, params)
    # row-major, so that each row's sums along it are pairwise as for the row alone
    weeks, y = index[keep], np.ascontiguousarray(y[:, keep])
    found, firsts, sigmas = _screen(y, weeks, params)
    ready = [r - 1 for r in found if r]
    if not ready:
        return
    links = Links([])
    lasts = iter(last_links(y[ready], weeks, [firsts[r] for r in ready],
                            [sigmas[r] for r in ready], params, links))
    at = 0
    for i, r, first, sigma in zip(rows, found, firsts, sigmas, strict=True):
        if r:
            out[i] = Ready(weeks, y[r - 1].copy(), first, sigma, next(lasts), (links, at))
            at += 1


def last_links(y: Matrix, weeks: IntArray, firsts: Sequence[Split | None],
               sigmas: Sequence[float | None], p: Params,
               links: Links | None = None) -> list[int | None]:
    """``segment.begin(row, weeks, p, first, sigma).last_cut`` of every row, from the chain
    alone (no first pass), a link for all rows at a time: the best split of each row's
    ``y[a:n]`` as ``segment._best_split`` scores it — the row's part gathered to the left of
    a matrix (zeros after it), summed cumulatively (in order, so to the last bit as alone),
    the same elementwise arithmetic on the same integer counts, the candidates outside the
    part's allowed run set to −∞ so that ``argmax`` takes the first best inside it. The
    thresholds are computed per row in Python, as ``_binseg`` does. ``None`` where a row came
    without its first split or noise (the screen always has them). ``links``, given, gets the
    links scored after the first, up to the first that fails, as arrays per step (no Python
    per row: most rows are never segmented); ``segment.begin`` takes them over."""
    m, n = y.shape
    out: list[int | None] = [-1] * m
    live: list[int] = []
    at = np.zeros(m, dtype=np.int64)
    limit = np.zeros(m)
    for i, (first, sigma) in enumerate(zip(firsts, sigmas, strict=True)):
        if first is None or sigma is None:
            out[i] = None
            continue
        if not sigma > 0:
            continue
        limit[i] = _threshold(n, sigma**2, p)
        if not first[0] <= limit[i]:
            out[i], at[i] = first[1], first[1]
            live.append(i)
    wl = weeks.tolist()
    last = min(n - MIN_POINTS, bisect_right(wl, wl[n - 1] - p.min_size + 1) - 1)
    rows = np.array(live, dtype=np.int64)
    while len(rows):
        a = at[rows]
        lo = np.maximum(a + MIN_POINTS, np.searchsorted(weeks, weeks[a] + p.min_size - 1) + 1)
        width = n - int(a.min())
        cols = a[:, None] + np.arange(width)
        part = np.where(cols < n, np.take_along_axis(y[rows], np.minimum(cols, n - 1), axis=1),
                        0.0)
        cs = np.cumsum(part, axis=1)
        nn = (n - a)[:, None]
        nl = np.arange(1, width + 1)
        total = cs[np.arange(len(rows)), n - a - 1][:, None]
        with np.errstate(divide="ignore", invalid="ignore"):
            gain = (cs / nl - (total - cs) / (nn - nl)) ** 2 * nl * (nn - nl) / nn
        c = a[:, None] + nl
        gain[(c < lo[:, None]) | (c > last)] = -np.inf
        best = gain.argmax(axis=1)
        top = gain[np.arange(len(rows)), best]
        go = (lo <= last) & ~(top <= limit[rows])
        cut = a + best + 1
        if links is not None:
            where = np.full(m, -1, dtype=np.int64)
            where[rows] = np.arange(len(rows))
            links.steps.append((where, a, lo <= last, top, cut))
        rows, cut = rows[go], cut[go]
        at[rows] = cut
        for i, k in zip(rows.tolist(), cut.tolist(), strict=True):
            out[i] = k
    return out


def _screen(y: Matrix, weeks: IntArray, p: Params
            ) -> tuple[list[int], list[Split | None], list[float | None]]:
    """Per row, 0 if it has no shift, else its row number + 1; its best first split; and its
    noise (``segment.noise``, the same steps on a row-major ``y``: pairwise sums along rows).

    Exact: segmentation finds no cut in its first pass when no first split's gain beats
    ``penalty · log(n) · σ²``; its second pass then cannot either, as its variance
    ``σ² (1 + φ) / (1 − φ)`` with ``φ`` in [0, 0.8] is never below ``σ²``; and without cuts
    there is no shift. Too-short rows and rows of zero noise go through segmentation itself.

    The first split is ``segment._best_split`` of the whole row to the last bit: the same
    candidates, the same elementwise arithmetic on the same running sums (cumulative sums
    add in order, row by row or alone), and ``argmax`` takes the first of equal gains."""
    m, n = y.shape
    if n < 2 * MIN_POINTS:
        return [0] * m, [None] * m, [None] * m
    k = np.arange(MIN_POINTS, n - MIN_POINTS + 1)
    k = k[(weeks[k - 1] - weeks[0] + 1 >= p.min_size) & (weeks[n - 1] - weeks[k] + 1
                                                         >= p.min_size)]
    if not len(k):
        return [0] * m, [None] * m, [None] * m
    d = np.diff(y, axis=1)
    spread = _mad_rows(d)
    half_sd = 0.5 * np.std(d, axis=1)
    sigma = np.where(half_sd > spread, half_sd, spread) / math.sqrt(2)
    cs = np.cumsum(y, axis=1)
    left, total = cs[:, k - 1], cs[:, -1:]
    gain = (left / k - (total - left) / (n - k)) ** 2 * k * (n - k) / n
    threshold = p.penalty * math.log(n) * sigma**2
    best = gain.argmax(axis=1)
    top = gain[np.arange(m), best]
    quiet = (sigma > 0) & (top < threshold * (1 - MARGIN))
    firsts: list[Split | None] = [(g, int(k[b])) for g, b in zip(top.tolist(), best.tolist(),
                                                                  strict=True)]
    return [0 if q else r + 1 for r, q in enumerate(quiet.tolist())], firsts, sigma.tolist()


def adjust_many(index: IntArray, x: Matrix, params: Params = DEFAULT
                ) -> tuple[Matrix, npt.NDArray[np.bool_]]:
    """``detect.adjust`` for rows sharing the weeks ``index``: the same values, row by row."""
    doy = _day_of_year(index)
    keep = np.ones(x.shape[1], dtype=bool)
    span = int(index[-1] - index[0]) + 1
    mult = np.all(x > 0, axis=1)
    y = x.copy()
    if span >= params.season_weeks and x.shape[1] >= 0.8 * span:
        y = _deseasonalise(y, index, doy, mult)
    else:
        keep = (doy >= 3) & (doy < 354)
        if keep.sum() < 6:
            keep[:] = True
    y[:, keep] = _clip_outliers(y[:, keep])
    return y, keep


def _deseasonalise(y: Matrix, index: IntArray, doy: IntArray, mult: npt.NDArray[np.bool_]
                   ) -> Matrix:
    m = len(y)
    level = _running_median(y, 27)
    with np.errstate(divide="ignore", invalid="ignore"):
        dev = _per_row(mult, lambda: y / level - 1.0, lambda: y - level)
    spread = _mad_rows(dev)
    sd = np.std(dev, axis=1)
    noise = np.where(spread != 0, spread, np.where(sd != 0, sd, 1e-12))
    days = np.datetime64(EPOCH_MONDAY.date(), "D") + 7 * index
    year = days.astype("datetime64[Y]").astype(np.int64)
    woy = np.minimum(doy // 7, 52)
    years = int(year[-1] - year[0]) + 1
    # each week of the year's values over the years, a year a plane: sorted in place
    table = np.full((years, m, 53), np.nan)
    table[year - year[0], :, woy] = dev.T
    seen = np.isfinite(table).sum(axis=0)
    _sort_years(table)                                    # NaN sort last
    lo = np.maximum(seen - 1, 0) // 2
    hi = np.minimum(seen // 2, years - 1)
    profile = (np.take_along_axis(table, lo[None], axis=0)[0]
               + np.take_along_axis(table, hi[None], axis=0)[0]) / 2
    clear = (seen >= 2) & (np.abs(profile) > (2.5 * noise)[:, None] / np.sqrt(
        np.maximum(seen, 1)))
    weekly = np.where(clear, profile, 0.0)[:, woy]
    with np.errstate(divide="ignore", invalid="ignore"):
        return _per_row(mult, lambda: y / (1.0 + weekly), lambda: y - weekly)


def _sort_years(table: npt.NDArray[np.float64]) -> None:
    """``table.sort(axis=0)``, NaN last, for the few years a series spans by odd-even
    transposition (as many rounds as years, each a compare-exchange of neighbouring planes
    in place: ``np.fmin`` keeps the number of a number and NaN, ``np.maximum`` the NaN):
    ``np.sort`` along a short axis pays per lane, ~27,000 lanes a block. The same values
    in every place but for the order of 0.0 and −0.0, equal to comparisons, which the season
    cannot see: a profile of zero is never clear of the noise (``_deseasonalise``)."""
    years = len(table)
    if years > SORTED_YEARS:
        table.sort(axis=0)
        return
    low = np.empty(table.shape[1:])
    for r in range(years):
        for i in range(r % 2, years - 1, 2):
            a, b = table[i], table[i + 1]
            np.fmin(a, b, out=low)
            np.maximum(a, b, out=b)
            a[...] = low


def _per_row(mult: npt.NDArray[np.bool_], ratio: Callable[[], Matrix],
             difference: Callable[[], Matrix]) -> Matrix:
    """``np.where(mult[:, None], ratio(), difference())``, computing one side only when every
    row takes it (nearly always: a metric is positive or not): the same values."""
    if mult.all():
        return ratio()
    if not mult.any():
        return difference()
    out: Matrix = np.where(mult[:, None], ratio(), difference())
    return out


def _clip_outliers(y: Matrix) -> Matrix:
    if y.shape[1] < 5:
        return y
    base = _running_median(y, 5)
    dev = y - base
    s = _mad_rows(dev)
    with np.errstate(invalid="ignore"):
        clipped = base + np.clip(dev, (-3 * s)[:, None], (3 * s)[:, None])
        out: Matrix = np.where((s > 0)[:, None], clipped, y)
    return out


def _running_median(y: Matrix, width: int) -> Matrix:
    """``detect._running_median`` of every row."""
    half = width // 2
    if y.shape[1] > half:
        padded = np.concatenate([y[:, half:0:-1], y, y[:, -2:-half - 2:-1]], axis=1)
    else:
        padded = np.concatenate([np.repeat(y[:, :1], half, axis=1), y,
                                 np.repeat(y[:, -1:], half, axis=1)], axis=1)
    if (width == 5 or len(padded) >= BLOCK_ROWS) and _plain(padded):
        return _median_of_5(padded) if width == 5 else _median_by_blocks(padded, width)
    s0, s1 = padded.strides
    m, n = len(padded), padded.shape[1] - width + 1
    windows = as_strided(padded, (m, n, width), (s0, s1, s1), writeable=False)
    if m <= WINDOW_ROWS:
        few: Matrix = np.partition(windows, half, axis=2)[:, :, half]
        return few
    # the windows copied and partitioned a few rows at a time in one buffer, not all at once:
    # ``np.partition``'s copy of a block's windows (17 MB for 512 rows of 157 weeks) is fresh
    # memory each time, which the kernel maps page by page (~20,000 page faults a check)
    out: Matrix = np.empty((m, n))
    part = np.empty((min(m, WINDOW_ROWS), n, width))
    for a in range(0, m, WINDOW_ROWS):
        block = part[:min(WINDOW_ROWS, m - a)]
        np.copyto(block, windows[a:a + WINDOW_ROWS])
        block.partition(half, axis=2)
        out[a:a + len(block)] = block[:, :, half]
    return out


def _plain(v: Matrix) -> bool:
    """No NaN and no −0.0 in ``v``: where selection by comparisons alone (``np.minimum``,
    ``np.maximum``) must pick what ``np.partition`` picks (it sorts NaN last, and of 0.0
    and −0.0, equal to comparisons, either could come out)."""
    if np.isnan(v).any():
        return False
    sign = np.signbit(v)
    return not (sign.any() and (sign & (v == 0)).any())


def _median_of_5(padded: Matrix) -> Matrix:
    """The running median of 5 by a fixed network of minima and maxima over the five shifted
    columns (a twentieth of ``np.partition``'s time on a check's 28,000 rows): of the first four
    values in a window, the least is at most second of the five and the greatest at least
    fourth, so the median of five is the median of the other two and the fifth. Each result is
    one of the inputs: exact, not computed."""
    n = padded.shape[1] - 4
    a, b, c, d, e = (padded[:, i:i + n] for i in range(5))
    low = np.maximum(np.minimum(a, b), np.minimum(c, d))
    high = np.minimum(np.maximum(a, b), np.maximum(c, d))
    out: Matrix = np.maximum(np.minimum(low, high), np.minimum(np.maximum(low, high), e))
    return out


def _median_by_blocks(padded: Matrix, width: int) -> Matrix:
    """The running median of odd ``width`` by minima and maxima (half ``np.partition``'s time
    on a block of 512 rows of 157 weeks). Cut each row into blocks of ``width``: the window
    starting ``t`` into block ``q`` is block ``q`` from ``t`` on (``S``) and block ``q + 1``
    before ``t`` (``P``). The ``k`` least of every block's suffixes come from inserting its
    values right to left into a sorted list (``new[i] = min(max(old[i-1], x), old[i])``), those
    of the next block's prefixes left to right, all blocks at once; and the ``k``-th least of
    ``S ∪ P`` is ``min over i of max(S_i, P_k-i)`` (``S_0 = P_0 = −∞``; missing ranks +∞): each
    term is at least the ``k``-th, since ``k`` values are at most it, and the split that takes
    the ``k`` least gives it. Every result is one of the inputs: exact, not computed — on
    rows without NaN or −0.0 (``_plain``), where comparisons pick what ``np.partition`` does."""
    m, length = padded.shape
    k = width // 2 + 1                      # the median is the k-th least, counted from 1
    n = length - width + 1                  # windows
    q = (n - 1) // width + 2                # blocks a row needs: the last window's two
    size = m * q
    # b[t, r·q + j] = padded[r, j·width + t]: a block's t-th value, every block in a row
    b = np.zeros((width, m, q))
    full = length // width
    b[:, :, :full] = padded[:, :full * width].reshape(m, full, width).transpose(2, 0, 1)
    rest = padded[:, full * width:]
    b[:rest.shape[1], :, full] = rest.T
    flat = b.reshape(width, size)
    # s[t]: the least min(k, width - t) values of each block from t on, sorted (+∞ after)
    s = np.empty((width + 1, k, size))
    s[width] = np.inf
    work = np.empty((k, size))
    for t in range(width - 1, -1, -1):
        x, old, new = flat[t], s[t + 1], s[t]
        r = min(width - t, k)
        np.minimum(old[0], x, out=new[0])
        np.maximum(old[:r - 1], x, out=work[:r - 1])
        np.minimum(work[:r - 1], old[1:r], out=new[1:r])
        new[r:] = np.inf
    out = np.empty((width, size))           # out[t, r·q + j]: the window at j·width + t
    out[0] = s[0, k - 1]
    pre = np.full((k, size), np.inf)        # the least k of each block before t, sorted
    for t in range(1, width):
        x = flat[t - 1]
        r = min(t, k)
        np.maximum(pre[:r - 1], x, out=work[:r - 1])
        np.minimum(work[:r - 1], pre[1:r], out=pre[1:r])
        np.minimum(pre[0], x, out=pre[0])
        # S of block j against P of block j + 1 (one column on): i from lo to hi pairs S_i
        # with P_k-i, both ranks present; i = k (S_k) and i = 0 (P_k) when they exist
        lo, hi = max(1, k - t), min(k - 1, width - t)
        pairs = np.maximum(s[t, lo - 1:hi, :-1], pre[k - hi - 1:k - lo, 1:][::-1],
                           out=work[:hi - lo + 1, :-1])
        got = out[t, :-1]
        np.minimum.reduce(pairs, axis=0, out=got)
        if k <= width - t:
            np.minimum(got, s[t, k - 1, :-1], out=got)
        if k <= t:
            np.minimum(got, pre[k - 1, 1:], out=got)
    # a row's last block starts no window: its column (and the next row's start) is not read
    found: Matrix = out.reshape(width, m, q).transpose(1, 2, 0).reshape(m, q * width)[:, :n]
    return found


def _median_rows(v: Matrix) -> FloatArray:
    """``segment.median`` of every row, up to the sign of a zero (which ``_mad_rows``, its
    one use, cannot see: it subtracts the median and takes the absolute value).

    One selection, not ``np.partition``'s two (``[lo, hi]``, 2.5× slower on 157 columns, even
    when ``lo == hi``): after partitioning at ``hi`` the values before it are the ``hi`` least,
    so the ``lo``-th least is their maximum — none is NaN unless the ``hi``-th is, which
    makes the median NaN either way (NaN sorts last)."""
    n = v.shape[1]
    lo, hi = (n - 1) // 2, n // 2
    part = np.partition(v, hi, axis=1)
    low = part[:, hi] if lo == hi else part[:, :hi].max(axis=1)
    out: FloatArray = 0.5 * (low + part[:, hi])
    return out


def _mad_rows(v: Matrix) -> FloatArray:
    """``segment.mad`` of every row."""
    if not v.shape[1]:
        return np.zeros(len(v))
    out: FloatArray = 1.4826 * _median_rows(np.abs(v - _median_rows(v)[:, None]))
    return out
