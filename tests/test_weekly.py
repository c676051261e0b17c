"""use_changes: every question answered at once, bit for bit as use_change answers each."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dipstick.indicators.common import Season, use_change
from dipstick.indicators.weekly import _sum_of_squares, _table, spans_before, use_changes
from dipstick.shifts import ShiftIndex
from dipstick.shifts.series import Series, SeriesKey


def _index(series: dict[str, tuple[list[int], list[float]]]) -> ShiftIndex:
    by_key = {}
    links: dict[str, list[SeriesKey]] = {}
    for sid, (weeks, values) in series.items():
        key = SeriesKey("service", sid, "users")
        by_key[key] = Series(key, np.array(weeks, dtype=np.int64), np.array(values))
        links[sid] = [key]
    return ShiftIndex(by_key, links=links)


def _portfolio(seed: int) -> tuple[ShiftIndex, Season, list[tuple[str, range, range]]]:
    """Services with gaps, zero weeks, a flat one, one without a series and one-week ones;
    audiences whose rhythm lacks weeks or is 0 there; questions of every width, some
    reaching before or past the series."""
    rng = np.random.default_rng(seed)
    series: dict[str, tuple[list[int], list[float]]] = {}
    for i in range(40):
        weeks = np.arange(100, 100 + int(rng.integers(1 if i == 5 else 40, 140)))
        weeks = weeks[rng.random(len(weeks)) > (0.3 if i % 3 == 0 else 0.05)]
        base = float(rng.choice([3.0, 40.0, 1234.5]))
        values = base * np.exp(np.cumsum(rng.normal(0, 0.05, len(weeks))))
        if i % 7 == 0:
            values[rng.random(len(values)) < 0.2] = 0.0
        if i % 11 == 0:
            values[:] = 17.0                                  # flat: no spread, var 0
        values = np.round(values, int(rng.integers(0, 4)))
        series[f"s{i}"] = (weeks.tolist(), values.tolist())
    series["one"] = ([150], [5.0])
    rhythm = {"a": {w: float(rng.uniform(0.7, 1.3)) for w in range(90, 230)
                    if rng.random() > 0.1},
              "b": {w: 0.0 if w % 9 == 0 else 1.1 for w in range(120, 200)}, "c": {}}
    audience = {f"s{i}": "abc"[i % 3] for i in range(40)} | {"one": "a", "none": "b"}
    questions = []
    for _ in range(600):
        sid = f"s{int(rng.integers(0, 40))}" if rng.random() > 0.05 else \
            str(rng.choice(["one", "none"]))
        wk = int(rng.integers(90, 240))
        before = range(wk - int(rng.integers(0, 53) if rng.random() < 0.2 else 8), wk)
        after = range(wk + int(rng.integers(0, 2)), wk + int(rng.integers(0 if rng.random() < 0.1
                                                                          else 3, 14)))
        questions.append((sid, before, after))
    return _index(series), Season(rhythm, audience), questions


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_all_questions_at_once_answer_as_one_by_one(seed: int) -> None:
    index, season, questions = _portfolio(seed)
    services = sorted({s for s, _, _ in questions})
    assert _table(index, season, services, 0, 300) is not None   # not the one-by-one way
    got = use_changes(index, season, questions)
    want = [use_change(index, season, *q) for q in questions]
    assert sum(w is not None for w in want) > 300         # the arithmetic, not only the Nones
    assert got == want


def test_squares_are_pythons_own() -> None:
    """``(v - mean) ** 2`` is libm's ``pow``, which rounds some squares unlike ``v * v`` (glibc:
    ~1 in 1,000): the sums of squares use it too."""
    rng = np.random.default_rng(7)
    d = [float(v) for v in rng.integers(2**26, 2**27, 20_000) * 2.0**-26]
    odd = [v for v in d if v ** 2 != v * v] or d[:10]      # none where libm's pow is exact
    row = np.array([odd[:52]])
    assert _sum_of_squares(row, np.array([0.0]))[0] == sum(v ** 2 for v in odd[:52])


def test_a_value_numpy_would_treat_apart_takes_the_one_by_one_way() -> None:
    """A NaN week (NaN marks a missing week in the array) or a negative one: the questions
    are answered one by one, so the same as before however odd the value."""
    for odd in (float("nan"), -0.0, -3.0):
        index = _index({"x": (list(range(100, 140)), [10.0 + (k % 3) for k in range(39)]
                              + [odd])})
        season = Season({}, {"x": "-"})
        questions = [("x", range(130, 138), range(139, 141)), ("x", range(110, 118),
                                                                 range(119, 125))]
        got = use_changes(index, season, questions)
        want = [use_change(index, season, *q) for q in questions]
        assert repr(got) == repr(want)


def test_no_questions_and_no_series() -> None:
    index, season = _index({}), Season({}, {})
    assert use_changes(index, season, []) == []
    assert use_changes(index, season, [("x", range(1, 9), range(10, 12))]) == [None]


def _year_of(weekly: tuple[np.ndarray, dict[str, np.ndarray]] | None, week: int
             ) -> tuple[int, dict[str, float]] | None:
    """The per-question way spans_before replaced (change's ``_year_of``)."""
    if weekly is None:
        return None
    weeks, columns = weekly
    lo, hi = np.searchsorted(weeks, [week - 52, week])
    if hi <= lo:
        return None
    return int(weeks[lo]), {k: math.fsum(v[lo:hi].tolist()) for k, v in columns.items()}


@pytest.mark.parametrize("whole", [True, False])
def test_a_year_of_weekly_sums_before_each_week_at_once(whole: bool) -> None:
    """Counts (whole numbers: running sums) and user-days with fractions (fsum per span):
    the same first weeks and sums as a search and an fsum per question."""
    rng = np.random.default_rng(5)
    weekly = {}
    for i in range(30):
        weeks = np.sort(rng.choice(np.arange(100, 260), int(rng.integers(0, 120)),
                                   replace=False)).astype(np.int64)
        counts = rng.integers(0, 40, len(weeks)).astype(np.float64)
        user_days = counts * 7.3 + 0.1 if not whole else counts * 7
        weekly[f"s{i}"] = (weeks, {"n": counts, "user_days": user_days})
    services = [f"s{int(rng.integers(0, 33))}" for _ in range(500)]   # s30–s32: none
    weeks = rng.integers(80, 330, 500).astype(np.int64)
    found, first, sums = spans_before(weekly, services, weeks)
    for i, (s, w) in enumerate(zip(services, weeks.tolist(), strict=True)):
        want = _year_of(weekly.get(s), w)
        assert bool(found[i]) is (want is not None)
        if want is not None:
            assert int(first[i]) == want[0]
            assert {k: float(v[i]) for k, v in sums.items()} == want[1]
    assert found.sum() > 200
    assert spans_before({}, services, weeks)[0].sum() == 0
    assert spans_before(weekly, [], np.array([], dtype=np.int64))[2] == {}
