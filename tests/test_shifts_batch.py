"""Batched shift detection (``shifts.batch``) gives exactly the one-series shifts: the same
``Shift`` objects, from bitwise-equal adjusted values, on many generated series with the edge
cases a check meets (constant, gaps, very short, seasonal, ramps, zero counts, negatives)."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pytest

from dipstick.shifts import Series, SeriesKey, Shift, ShiftIndex, detect, detect_many
from dipstick.shifts.batch import CHUNK, adjust_many, screen
from dipstick.shifts.detect import Params, adjust, week_date
from dipstick.shifts.segment import _best_split
from dipstick.shifts.segment import undated as undated_steps
from dipstick.shifts.series import EPOCH_MONDAY

FIRST = (date(2023, 11, 6) - EPOCH_MONDAY.date()).days // 7       # a Monday
FIRST_DAY = date(2023, 11, 6)


def _season(index: np.ndarray) -> np.ndarray:
    days = np.datetime64(EPOCH_MONDAY.date(), "D") + 7 * index
    doy = (days - days.astype("datetime64[Y]").astype("datetime64[D]")).astype(int)
    f = 1 - 0.14 * np.exp(-(((doy - 212) / 18.0) ** 2))
    return np.where((doy >= 356) | (doy <= 2), 0.5, f)


def _values(rng: np.random.Generator, kind: str, index: np.ndarray) -> np.ndarray:
    """One series of ``kind`` on the weeks ``index``."""
    n = len(index)
    t = index - index[0]
    base = rng.normal(100, 3, n)
    if kind == "constant":
        return np.full(n, 5.0)
    if kind == "zeros":                                    # mostly-zero counts (MAD 0)
        return rng.poisson(0.05, n) / 10.0
    if kind == "step":
        at = int(rng.integers(0, max(1, int(t[-1]))))
        return base + np.where(t >= at, rng.choice([-1, 1]) * rng.uniform(3, 25), 0.0)
    if kind == "ramp":
        at, width = int(rng.integers(0, max(1, int(t[-1])))), int(rng.integers(3, 30))
        return base + rng.uniform(-30, 30) * np.clip((t - at) / width, 0, 1)
    if kind == "staircase":
        out = base.copy()
        for _ in range(int(rng.integers(2, 5))):
            out += np.where(t >= rng.integers(0, max(1, int(t[-1]))), rng.uniform(-15, -5),
                            0.0)
        return out
    if kind == "seasonal":
        return base * _season(index) * np.where(t >= rng.integers(40, 140), 0.8, 1.0)
    if kind == "negative":                                 # additive season, not multiplicative
        return rng.normal(0, 1, n) + np.where(t >= n // 2, -3.0, 0.0) + 5 * (_season(index) - 1)
    if kind == "spiky":
        out = base.copy()
        out[rng.random(n) < 0.05] *= 3
        return out
    if kind == "nan":
        out = base + np.where(t >= n // 2, 20.0, 0.0)
        out[rng.integers(0, n)] = np.nan
        return out
    raise AssertionError(kind)


KINDS = ("constant", "zeros", "step", "ramp", "staircase", "seasonal", "negative", "spiky",
         "nan")


def _weeks(rng: np.random.Generator, shape: str) -> np.ndarray:
    if shape == "full":
        return np.arange(157)
    if shape == "gaps":                                    # one gap pattern for many series
        return np.flatnonzero(np.random.default_rng(5).random(156) > 0.2)
    if shape == "short":
        return np.arange(int(rng.integers(0, 30)))
    if shape == "quarterly":
        return np.array([w for q in range(12) for w in (13 * q, 13 * q + 1)])
    return np.arange(int(rng.integers(30, 104)))           # under two years: no season profile


def generated(seed: int, count: int) -> list[Series]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        weeks = _weeks(rng, str(rng.choice(["full", "full", "gaps", "short", "quarterly",
                                             "year"])))
        kind = KINDS[i % len(KINDS)]
        values = _values(rng, kind, weeks) if len(weeks) else np.array([])
        out.append(Series(SeriesKey("service", f"s{i}", "users", kind), FIRST + weeks.astype(
            np.int64), np.asarray(values, dtype=np.float64), bool(i % 2)))
    return out


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_batched_detection_gives_the_one_series_shifts(seed: int) -> None:
    many = generated(seed, 400)
    expected = [detect(s) for s in many]
    assert detect_many(many) == expected
    # the series cover both sides of the screen and real shifts
    settled = sum(r is None for r in screen(many))
    assert 0 < settled < len(many)
    assert sum(1 for e in expected if e) > 40


def test_batched_detection_with_other_settings() -> None:
    many = generated(4, 200)
    for params in (Params(penalty=1.0, min_size=3), Params(min_effect=0.0, season_weeks=200)):
        assert detect_many(many, params) == [detect(s, params) for s in many]


def test_the_screens_first_split_is_segmentations_own() -> None:
    """The screen hands segmentation the best split of the whole series it scored; it must be
    ``_best_split``'s to the last bit (gain and position), else the shifts could move."""
    many = generated(5, 300)
    for params in (Params(), Params(penalty=1.0, min_size=3)):
        ready = [r for r in screen(many, params) if r is not None]
        assert len(ready) > 50
        for r in ready:
            want = _best_split(r.values, r.weeks.tolist(), 0, len(r.values), params.min_size)
            assert r.first is not None and want is not None and r.first[1] == want[1]
            assert r.first[0] == want[0] or (np.isnan(r.first[0]) and np.isnan(want[0]))


def test_adjusted_rows_are_bitwise_the_one_series_values() -> None:
    rng = np.random.default_rng(6)
    for shape in ("full", "gaps", "year", "quarterly"):
        weeks = FIRST + _weeks(rng, shape)
        x = np.stack([_values(rng, k, weeks) for k in KINDS for _ in range(3)])
        y, keep = adjust_many(weeks, x)
        for row, values in zip(y, x, strict=True):
            one, one_keep = adjust(weeks, values)
            assert np.array_equal(one_keep, keep)
            assert np.array_equal(one.view(np.int64), row.view(np.int64))   # bit for bit


def test_more_series_than_a_chunk_and_input_order_are_kept() -> None:
    rng = np.random.default_rng(7)
    weeks = FIRST + np.arange(157)
    many = [Series(SeriesKey("service", f"s{i}", "users"), weeks,
                   _values(rng, "step" if i % 3 else "spiky", weeks)) for i in range(CHUNK + 40)]
    many = many[::-1]
    assert detect_many(many) == [detect(s) for s in many]


def test_shift_index_answers_what_detect_answers() -> None:
    many = generated(8, 300)
    by_key = {s.key: s for s in many}
    index = ShiftIndex(by_key)
    keys = sorted(by_key)
    asked = keys[::3] + keys                   # a few first, then all: screened once, kept
    for k in asked:
        assert index.shifts_of(k) == detect(by_key[k])
    with pytest.raises(KeyError):
        index.shifts_of(SeriesKey("service", "nobody", "users"))


def test_a_question_screens_only_the_series_on_the_same_weeks() -> None:
    """Asking about one series screens the series of its metric that share its weeks, not
    every series of the metric (most week patterns of a sparse metric are never asked about);
    the answers stay detect's, whatever the order of questions."""
    many = generated(9, 300)
    by_key = {s.key: s for s in many}
    index = ShiftIndex(by_key)
    full = [k for k, s in by_key.items() if len(s) == 157]
    other = [k for k, s in by_key.items() if len(s) != 157]
    assert index.shifts_of(full[0]) == detect(by_key[full[0]])
    screened = set(index._found) | set(index._ready)
    assert set(full) <= screened and not screened & set(other)
    for k in reversed(sorted(by_key)):
        assert index.shifts_of(k) == detect(by_key[k])


def _last_bad(shifts: list[Shift], since: date) -> Shift | None:
    """The question as ``settled_shift`` asked it before: the last shift, if bad and recent."""
    last = shifts[-1] if shifts else None
    return last if last is not None and last.bad and last.date >= since else None


@pytest.mark.parametrize("seed", [10, 11])
def test_the_last_bad_shift_without_dating_is_the_dated_ones(seed: int) -> None:
    """``ShiftIndex.last_bad`` answers from undated steps where it can; its answer must be
    that of the full detection for every ``since`` around the last shift (dating moves a step
    by weeks, and up to three points later than its change point). Each
    series is asked both ways (higher is worse or better), so every last step is bad once."""
    many = [Series(SeriesKey("service", s.key.subject, "users", f"{s.key.part}{worse}"),
                   s.index, s.values, worse)
            for s in generated(seed, 300) for worse in (False, True)]
    by_key = {s.key: s for s in many}
    index = ShiftIndex(by_key)
    undated = answered = late = 0
    for k in sorted(by_key, reverse=True):
        shifts = detect(by_key[k])
        weeks = [s.date for s in shifts[-1:]] + [FIRST_DAY]
        sinces = sorted({w + timedelta(days=7 * d) for w in weeks for d in range(-6, 8)})
        for since in reversed(sinces):     # latest first: undated answers come first
            got = index.last_bad(k, since)
            assert got == _last_bad(shifts, since), (k, since)
            answered += got is not None
        undated += k not in index._found
        if shifts and shifts[-1].bad:           # dated after its change point?
            y, keep = adjust(by_key[k].index, by_key[k].values)
            weeks = by_key[k].index[keep]
            cut = undated_steps(y[keep], weeks, Params()).cuts[-1]
            late += shifts[-1].date > week_date(int(weeks[cut]))
        assert index.shifts_of(k) == shifts
    # both ways of answering are exercised, and last shifts dated after their change point
    assert undated > 100 and answered > 100 and late > 0


def test_a_last_shift_dated_three_points_after_its_change_point() -> None:
    """The bound's edge: a last step dated exactly ``MIN_POINTS`` points after its change
    point, asked with ``since`` on that very week (``generated(14, 300)[265]``, a staircase,
    is one), higher worse and better, each on a fresh index."""
    s = generated(14, 300)[265]
    for worse in (False, True):
        one = Series(s.key, s.index, s.values, worse)
        shifts = detect(one)
        y, keep = adjust(one.index, one.values)
        weeks = one.index[keep]
        cut = undated_steps(y[keep], weeks, Params()).cuts[-1]
        assert shifts[-1].date == week_date(int(weeks[cut + 3]))     # the edge case itself
        since = shifts[-1].date
        assert ShiftIndex({one.key: one}).last_bad(one.key, since) == _last_bad(shifts, since)
        assert ShiftIndex({one.key: one}).last_bad(one.key, since + timedelta(days=7)) is None
