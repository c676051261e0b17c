"""Questions to the weekly series and sums, for all of a cause's services or changes at once.

``change`` asks :func:`~dipstick.indicators.common.use_change` for every recent change (~4,300
on the large demo) and ``retirement`` for every service (2,040): ~45 µs of Python each, a third
of both causes' per-service CPU. :func:`use_changes` answers all of them from one services ×
weeks array, to the last bit: the sums ``statistics.fmean`` takes exactly stay ``math.fsum`` per
row (the weeks a side lacks add exact zeros), the ones Python adds left to right are NumPy's
running sums (``cumsum``: the same additions in the same order, a lacking week adding 0.0), and
the squares are Python's own ``** 2`` (libm's ``pow``, which rounds ~1 square in 1,000 unlike
``x * x``). :func:`spans_before` adds up a year of weekly sums before each change.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from dipstick.indicators.common import Season, UseChange, use_change
from dipstick.indicators.confidence import scaled
from dipstick.indicators.stat_arrays import welch
from dipstick.shifts import ShiftIndex
from dipstick.shifts.series import FloatArray, IntArray, SeriesKey

Question = tuple[str, range, range]    # service, weeks before, weeks after
HISTORY = 52                           # the weeks before ``after`` whose wander widens a side
CAP = 0.8                              # _ar1_factor's cap on ρ
BoolArray = npt.NDArray[np.bool_]


def use_changes(shifts: ShiftIndex, rhythm: Season,
                questions: Sequence[Question]) -> list[UseChange | None]:
    """``[use_change(shifts, rhythm, *q) for q in questions]``, computed together (ranges of
    step 1). A use value NumPy would treat apart (not finite, or negative: a NaN marks a week
    without one here) sends every question the per-question way."""
    def one_by_one() -> list[UseChange | None]:
        return [use_change(shifts, rhythm, s, b, a) for s, b, a in questions]

    if not questions or any(r.step != 1 for _, b, a in questions for r in (b, a)):
        return one_by_one()
    lo = min(min(b.start, a.start - HISTORY) for _, b, a in questions)
    hi = max(max(b.stop, a.stop, a.start) for _, b, a in questions)
    built = _table(shifts, rhythm, sorted({s for s, _, _ in questions}), lo, hi)
    if built is None:
        return one_by_one()
    rows, table = built
    row = np.array([rows.get(s, -1) for s, _, _ in questions])
    out: list[UseChange | None] = [None] * len(questions)
    asked = np.flatnonzero(row >= 0)
    if not len(asked):
        return out

    def weeks(start: list[int], stop: list[int]) -> FloatArray:
        first = np.array(start, dtype=np.int64)[asked] - lo
        end = np.array(stop, dtype=np.int64)[asked] - lo
        width = max(int((end - first).max()), 1)
        cols = first[:, None] + np.arange(width)
        return np.where(cols < end[:, None],
                        table[row[asked][:, None], np.clip(cols, 0, table.shape[1] - 1)], np.nan)

    after = weeks([a.start for _, _, a in questions], [a.stop for _, _, a in questions])
    before = weeks([b.start for _, b, _ in questions], [b.stop for _, b, _ in questions])
    na, nb = (~np.isnan(after)).sum(axis=1), (~np.isnan(before)).sum(axis=1)
    # ``not sum(b)``: left to right, as Python adds
    ok = (na >= 2) & (nb >= 2) & (_running_sum(np.nan_to_num(before, nan=0.0)) != 0)
    keep = np.flatnonzero(ok)
    if not len(keep):
        return out
    asked, after, before, na, nb = asked[keep], after[keep], before[keep], na[keep], nb[keep]
    history = weeks([a.start - HISTORY for _, _, a in questions],
                    [a.start for _, _, a in questions])
    ma, mb = _fsum_rows(after) / na, _fsum_rows(before) / nb
    widen = np.sqrt(_ar1_factors(history))
    sa = np.sqrt(_sum_of_squares(after, ma) / (na - 1)) * widen
    sb = np.sqrt(_sum_of_squares(before, mb) / (nb - 1)) * widen
    n1, n0 = na.tolist(), nb.tolist()
    tests = welch(ma, sa, n1, mb, sb, n0, null=0.0, higher_is_worse=False, baseline_p=True)
    for q, m1, m0, a, b, test, drift, still in zip(
            asked.tolist(), ma.tolist(), mb.tolist(), n1, n0, tests, _drifts(before).tolist(),
            _drifts(after).tolist(), strict=True):
        out[q] = (m1, m0, None if test is None else scaled(test, 1 / m0, 0.0,
                                                           f"{a} vs {b} weeks"), drift, still)
    return out


def _table(shifts: ShiftIndex, rhythm: Season, services: list[str], lo: int, hi: int
           ) -> tuple[dict[str, int], FloatArray] | None:
    """Each service's weekly users ÷ its audience's rhythm (:func:`relative_use`) over weeks
    ``lo``..``hi`` − 1, a row per service with a users series (NaN: no value that week); None
    if a value is not finite or is negative. A service's users series is its one with that
    metric (:data:`~dipstick.shifts.series.METRICS`' ``users`` is only the service's own,
    whole): looked up, not searched among its series."""
    found = [(s, x) for s in services
             if (x := shifts.series_by_key.get(SeriesKey("service", s, "users"))) is not None]
    if not found:
        return {}, np.full((1, hi - lo), np.nan)
    audiences = sorted({rhythm.audience.get(s, "") for s, _ in found})
    level = np.ones((len(audiences), hi - lo))       # 1 where the rhythm is unknown (or 0)
    for i, a in enumerate(audiences):
        for w, v in rhythm.index.get(a, {}).items():
            if lo <= w < hi:
                level[i, w - lo] = v or 1.0
    code = {a: i for i, a in enumerate(audiences)}
    lengths = [len(x.index) for _, x in found]
    at = np.concatenate([x.index for _, x in found]) - lo
    row = np.repeat(np.arange(len(found)), lengths)
    audience = np.repeat(np.array([code[rhythm.audience.get(s, "")] for s, _ in found]),
                         lengths)
    inside = (at >= 0) & (at < hi - lo)
    at, row, audience = at[inside], row[inside], audience[inside]
    values = np.concatenate([x.values for _, x in found])[inside] / level[audience, at]
    if not (np.isfinite(values).all() and not np.signbit(values).any()):
        return None
    table = np.full((len(found), hi - lo), np.nan)
    table[row, at] = values
    return {s: i for i, (s, _) in enumerate(found)}, table


def _fsum_rows(x: FloatArray) -> FloatArray:
    """``math.fsum`` of each row's known values (NaN: none): exact sums, as ``fmean`` takes."""
    return np.array([math.fsum(r) for r in np.nan_to_num(x, nan=0.0).tolist()])


def _running_sum(x: FloatArray) -> FloatArray:
    """Each row added left to right, as Python's ``sum`` does (``cumsum`` adds in order)."""
    return np.cumsum(x, axis=1)[:, -1]


def _sum_of_squares(x: FloatArray, mean: FloatArray) -> FloatArray:
    """``sum((v - mean) ** 2 for v in row)`` over each row's known values, bit for bit."""
    known = ~np.isnan(x)
    squares = np.zeros_like(x)
    squares[known] = np.power((x - mean[:, None])[known].astype(object), 2).astype(np.float64)
    return _running_sum(squares)


def _ar1_factors(x: FloatArray) -> FloatArray:
    """:func:`~dipstick.indicators.common._ar1_factor` of each row (NaN: None)."""
    known = ~np.isnan(x)
    pairs = known[:, :-1] & known[:, 1:]
    n_pairs = pairs.sum(axis=1)
    out = np.ones(len(x))
    some = np.flatnonzero(n_pairs >= 8)
    if not len(some):
        return out
    x, n_pairs = x[some], n_pairs[some]
    n = (~np.isnan(x)).sum(axis=1)
    mid = _fsum_rows(x) / n
    var = _sum_of_squares(x, mid) / n
    d = x - mid[:, None]
    lag = np.where(pairs[some], d[:, :-1] * d[:, 1:], 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = np.minimum(np.maximum(_running_sum(lag) / n_pairs / var, 0.0), CAP)
    out[some] = np.where(var > 0, (1 + rho) / (1 - rho), 1.0)
    return out


def _drifts(x: FloatArray) -> FloatArray:
    """:func:`~dipstick.indicators.common._drift` of each row's known values: the later half's
    mean ÷ the earlier half's − 1 (0 if the earlier is 0)."""
    known = ~np.isnan(x)
    n = known.sum(axis=1)
    early = known & (np.cumsum(known, axis=1) <= (n // 2)[:, None])
    late = known & ~early
    e = _fsum_rows(np.where(early, x, np.nan)) / (n // 2)
    la = _fsum_rows(np.where(late, x, np.nan)) / (n - n // 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(e != 0, la / e - 1, 0.0)


Weekly = dict[str, tuple[IntArray, dict[str, FloatArray]]]   # service → weeks, column sums


def spans_before(weekly: Weekly, services: list[str], weeks: IntArray, span: int = 52
                 ) -> tuple[BoolArray, IntArray, dict[str, FloatArray]]:
    """Per (``services[i]``, ``weeks[i]``): whether the service has a row among the ``span``
    weeks before that week, the first such week, and each column's sum over them — what
    ``np.searchsorted`` and ``math.fsum`` per question gave, for all of them at once (one
    search over every service's weeks, keyed by service). A column of whole numbers under
    2**53 (counts) is summed as differences of its running sum: exact, so ``fsum``'s; any
    other column still by ``fsum`` over each span."""
    n = len(services)
    known = [s for s in dict.fromkeys(services) if s in weekly]
    if not n or not known:
        return np.zeros(n, dtype=bool), np.zeros(n, dtype=np.int64), {}
    code = {s: i for i, s in enumerate(known)}
    asked = np.array([code.get(s, -1) for s in services])
    all_weeks = np.concatenate([weekly[s][0] for s in known])
    base = min(int(all_weeks.min(initial=weeks.min())), int(weeks.min()) - span)
    size = max(int(all_weeks.max(initial=weeks.max())), int(weeks.max())) - base + 1
    key = np.repeat(np.arange(len(known)), [len(weekly[s][0]) for s in known]) * size \
        + (all_weeks - base)                                        # ascending: by service, week
    at = np.maximum(asked, 0) * size - base
    lo, hi = np.searchsorted(key, at + weeks - span), np.searchsorted(key, at + weeks)
    found = (asked >= 0) & (hi > lo)
    first = all_weeks[np.minimum(lo, len(all_weeks) - 1)] if len(all_weeks) else lo
    sums: dict[str, FloatArray] = {}
    for column in weekly[known[0]][1]:
        values = np.concatenate([weekly[s][1][column] for s in known])
        if (np.isfinite(values).all() and not np.signbit(values).any()
                and (values == np.floor(values)).all() and values.sum() < 2.0**53):
            running = np.concatenate(([0.0], np.cumsum(values)))
            sums[column] = np.where(found, running[hi] - running[lo], 0.0)
        else:
            sums[column] = np.array([math.fsum(values[a:b].tolist()) if ok else 0.0
                                     for a, b, ok in zip(lo.tolist(), hi.tolist(),
                                                         found.tolist(), strict=True)])
    return found, first, sums
