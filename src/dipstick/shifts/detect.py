"""Shifts in one weekly series: pure functions over NumPy arrays, no I/O.

The method (chosen with ``benchmarks/shifts.py``; docs/shifts.md has the numbers):

1. **Season.** With two years or more, a week-of-year profile is taken from the ratio (or
   difference) of each week to a 27-week running median — which follows steps but not short
   dips — and removed where it is clearly beyond noise (Christmas, the summer dip). With less
   history the weeks around new year, the one dip every organisation has, are left out.
2. **Outliers.** Values further than 3 noise units from a 5-week running median are pulled in,
   so one odd week cannot make a shift.
3. **Segmentation** (:mod:`~dipstick.shifts.segment`): binary segmentation of the mean with a
   BIC-type penalty on a robust noise estimate inflated for autocorrelation; shifts below an
   effect size or a Bonferroni-corrected Welch confidence are dropped; each is dated where the
   series first left its old level, and a ramp where it starts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import as_strided

from dipstick.shifts.segment import Split, Undated, dated, mad, segment
from dipstick.shifts.series import EPOCH_MONDAY, FloatArray, IntArray, Series, SeriesKey

BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class Params:
    """Detection settings; the defaults are what the benchmark chose."""

    min_size: int = 6           # weeks a new level must last on each side of a shift
    penalty: float = 3.0        # a split must cut the squared error by penalty · log(n) σ²
    min_effect: float = 0.05    # smallest relative change reported
    min_confidence: float = 0.9   # Bonferroni-corrected, see segment._prune
    max_shifts: int = 8
    season_weeks: int = 104     # history needed for a week-of-year profile
    ramp_fit: float = 1.0       # a shift is a ramp when that beats a step by this · log(n) σ²


DEFAULT = Params()


@dataclass(frozen=True)
class Shift:
    """A lasting change of level in one series, dated by the Monday of its first week.
    ``size`` is the change in noise standard deviations (how clearly it stands out)."""

    series_key: SeriesKey
    date: date
    before: float
    after: float
    relative_change: float
    confidence: float
    higher_is_worse: bool = False
    size: float = 0.0

    @property
    def bad(self) -> bool:
        """Whether it moved the series the way a leak would."""
        return (self.after > self.before) == self.higher_is_worse


def detect(series: Series, params: Params = DEFAULT) -> list[Shift]:
    """The shifts of one series, oldest first; ``[]`` when it is too short to tell."""
    if not long_enough(series, params):
        return []
    y, keep = adjust(series.index, series.values, params)
    return shifts_in(series, series.index[keep], y[keep], params)


def long_enough(series: Series, params: Params = DEFAULT) -> bool:
    """Whether ``series`` has the weeks a shift needs (shorter ones have none)."""
    return not (len(series) < 6 or series.index[-1] - series.index[0] + 1
                < 2 * params.min_size)


def shifts_in(series: Series, index: IntArray, y: FloatArray, params: Params = DEFAULT,
              first: Split | None = None, found: Undated | None = None) -> list[Shift]:
    """The shifts of ``series`` from its adjusted values ``y`` on the weeks ``index`` kept
    (``detect``'s second half, shared with :mod:`~dipstick.shifts.batch`, which passes the
    ``first`` split it scored; ``found``: its undated steps when already segmented)."""
    out = []
    steps = segment(y, index, params, first) if found is None else dated(y, found, params)
    for st in steps:
        rel = (st.after - st.before) / max(abs(st.before), 1e-12)
        day = week_date(int(index[st.at]))
        out.append(Shift(series.key, day, st.before, st.after, rel, st.confidence,
                         series.higher_is_worse, round(st.size, 2)))
    return out


def week_date(week: int) -> date:
    """The Monday of week number ``week`` (weeks counted from ``EPOCH_MONDAY``)."""
    return EPOCH_MONDAY.date() + timedelta(days=7 * week)


def adjust(index: IntArray, x: FloatArray, params: Params = DEFAULT
           ) -> tuple[FloatArray, BoolArray]:
    """The series without its yearly season (or without its new-year weeks) and outliers;
    returns values and the mask of weeks to use."""
    doy = _day_of_year(index)
    keep = np.ones(len(x), dtype=bool)
    span = int(index[-1] - index[0]) + 1
    mult = bool(np.all(x > 0))
    y = x.copy()
    if span >= params.season_weeks and len(x) >= 0.8 * span:
        y = _deseasonalise(y, index, doy, mult)
    else:
        keep = (doy >= 3) & (doy < 354)
        if keep.sum() < 6:
            keep[:] = True
    y[keep] = _clip_outliers(y[keep])
    return y, keep


def _deseasonalise(y: FloatArray, index: IntArray, doy: IntArray, mult: bool) -> FloatArray:
    level = _running_median(y, 27)
    dev = (y / level - 1.0) if mult else y - level
    noise = mad(dev) or float(np.std(dev)) or 1e-12
    days = np.datetime64(EPOCH_MONDAY.date(), "D") + 7 * index
    year = days.astype("datetime64[Y]").astype(np.int64)
    woy = np.minimum(doy // 7, 52)
    table = np.full((int(year[-1] - year[0]) + 1, 53), np.nan)
    table[year - year[0], woy] = dev
    seen = np.isfinite(table).sum(axis=0)
    ordered = np.sort(table, axis=0)                      # NaN sort last
    lo = np.maximum(seen - 1, 0) // 2
    hi = seen // 2
    cols = np.arange(53)
    profile = (ordered[lo, cols] + ordered[np.minimum(hi, len(table) - 1), cols]) / 2
    clear = (seen >= 2) & (np.abs(profile) > 2.5 * noise / np.sqrt(np.maximum(seen, 1)))
    profile = np.where(clear, profile, 0.0)
    out: FloatArray = y / (1.0 + profile[woy]) if mult else y - profile[woy]
    return out


def _clip_outliers(y: FloatArray) -> FloatArray:
    if len(y) < 5:
        return y
    base = _running_median(y, 5)
    dev = y - base
    s = mad(dev)
    if not s > 0:
        return y
    out: FloatArray = base + np.clip(dev, -3 * s, 3 * s)
    return out


def _running_median(y: FloatArray, width: int) -> FloatArray:
    """Centred running median, the ends mirrored (``np.median`` per window is 3× slower)."""
    half = width // 2
    if len(y) > half:
        padded = np.concatenate([y[half:0:-1], y, y[-2:-half - 2:-1]])
    else:
        padded = np.concatenate([np.full(half, y[0]), y, np.full(half, y[-1])])
    # the windows as a strided view, as ``sliding_window_view`` builds it without its checks
    # (they cost more than the median on ~30,000 short series a check)
    step = padded.strides[0]
    windows = as_strided(padded, (len(padded) - width + 1, width), (step, step), writeable=False)
    out: FloatArray = np.partition(windows, half, axis=1)[:, half]
    return out


def _day_of_year(index: IntArray) -> IntArray:
    days = np.datetime64(EPOCH_MONDAY.date(), "D") + 7 * index
    doy: IntArray = (days - days.astype("datetime64[Y]").astype("datetime64[D]")).astype(
        np.int64)
    return doy
