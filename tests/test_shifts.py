"""Shift detection: hand-made series with a known answer, then the demo organisation's seeded
leaks dated by ``since`` against their ground-truth start."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pytest

from dipstick.demo import GroundTruth
from dipstick.findings import CheckContext, CommonSpec, Window
from dipstick.package import load_package
from dipstick.shifts import (
    CAUSE_SERIES,
    Series,
    SeriesKey,
    Shift,
    ShiftIndex,
    detect,
    detect_all,
    since_for,
)
from dipstick.shifts.series import EPOCH_MONDAY

START = date(2023, 11, 6)                   # a Monday; three years of weeks follow
FIRST = (START - EPOCH_MONDAY.date()).days // 7
WEEKS = 156


def series(values: np.ndarray, *, weeks: np.ndarray | None = None, worse_up: bool = False,
           metric: str = "users") -> Series:
    index = FIRST + (np.arange(len(values)) if weeks is None else weeks)
    return Series(SeriesKey("service", "svc", metric), index.astype(np.int64),
                  np.asarray(values, dtype=np.float64), worse_up)


def noise(seed: int, n: int = WEEKS, level: float = 100.0, sd: float = 3.0) -> np.ndarray:
    return level + np.random.default_rng(seed).normal(0, sd, n)


def week(i: int) -> date:
    return START + timedelta(weeks=i)


def seasonal_factor(n: int = WEEKS) -> np.ndarray:
    """The demo's office rhythm by week: a 5-week summer dip (-14%) and Christmas at half."""
    days = np.array([START + timedelta(weeks=i) for i in range(n)], dtype="datetime64[D]")
    doy = (days - days.astype("datetime64[Y]").astype("datetime64[D]")).astype(int)
    f = 1 - 0.14 * np.exp(-(((doy - 212) / 18.0) ** 2))
    return np.where((doy >= 356) | (doy <= 2), 0.5, f)


@dataclass(frozen=True)
class Case:
    name: str
    values: np.ndarray
    onset: int | None            # index of the first shifted week, None: no shift expected
    direction: int = 0           # +1 up, -1 down
    within: int = 2              # weeks the date may be off


def _step(seed: int, at: int, by: float) -> np.ndarray:
    v = noise(seed)
    v[at:] += by
    return v


def _ramp(seed: int, at: int, to: float) -> np.ndarray:
    v = noise(seed)
    v[at:] += np.linspace(0, to, WEEKS - at)
    return v


CASES = [
    Case("step up", _step(1, 100, 15), 100, +1),
    Case("step down", _step(2, 90, -20), 90, -1),
    Case("ramp down", _ramp(3, 100, -40), 100, -1, within=3),   # 0.7 a week in noise of 3
    Case("noise only", noise(4), None),
    Case("seasonal, no change", noise(5, sd=1.5) * seasonal_factor(), None),
    Case("seasonal with a step", _step(6, 120, -25) * seasonal_factor(), 120, -1),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hand_made_series(case: Case) -> None:
    found = detect(series(case.values))
    if case.onset is None:
        assert found == []
        return
    assert len(found) == 1, found
    s = found[0]
    assert abs((s.date - week(case.onset)).days) <= 7 * case.within, (s.date, week(case.onset))
    assert np.sign(s.after - s.before) == case.direction
    assert s.confidence >= 0.9
    assert np.sign(s.relative_change) == case.direction


@pytest.mark.parametrize("seed", range(20))
def test_noise_and_season_raise_no_shift(seed: int) -> None:
    assert detect(series(noise(100 + seed) * seasonal_factor())) == []
    assert detect(series(np.random.default_rng(seed).poisson(2, WEEKS) / 100.0,
                         metric="questions_per_user", worse_up=True)) == []


def test_missing_weeks_are_skipped_not_zero() -> None:
    values = _step(7, 100, 15)
    keep = np.random.default_rng(7).random(WEEKS) > 0.3
    keep[100] = True
    found = detect(series(values[keep], weeks=np.flatnonzero(keep)))
    assert len(found) == 1
    assert abs((found[0].date - week(100)).days) <= 21


def test_short_histories_never_crash() -> None:
    for n in range(0, 12):
        assert detect(series(noise(8, n))) == []
    assert detect(series(np.array([1.0, 1.0, 1.0, 9.0, 9.0]))) == []


def test_short_history_new_year_dip_is_not_a_shift() -> None:
    """Under two years there is no week-of-year profile: the new-year weeks are left out."""
    v = noise(9, 60) * seasonal_factor(60)
    assert detect(series(v)) == []


def test_sparse_quarterly_pulses_can_shift_on_the_last_two() -> None:
    weeks = np.array([w for q in range(12) for w in (13 * q, 13 * q + 1)])
    v = np.random.default_rng(10).normal(8.3, 0.3, len(weeks))
    v[-4:] -= 3.0
    found = detect(series(v, weeks=weeks, metric="value_score"))
    assert [s.date for s in found] == [week(int(weeks[-4]))]


def test_a_constant_series_has_no_shift() -> None:
    assert detect(series(np.full(WEEKS, 5.0))) == []


def test_since_takes_the_standing_bad_shift_of_a_driving_series() -> None:
    key = SeriesKey("service", "svc", "questions_per_user")
    old = Shift(key, date(2025, 1, 6), 1.0, 2.0, 1.0, 1.0, True, 5.0)
    undone = Shift(key, date(2025, 5, 5), 2.0, 1.0, -0.5, 1.0, True, 5.0)
    new = Shift(key, date(2026, 3, 2), 1.0, 3.0, 2.0, 0.99, True, 8.0)
    other = Shift(SeriesKey("service", "svc", "users"), date(2026, 1, 5), 9, 5, -0.4, 1, False)
    assert since_for("training", "svc", [old, undone, new, other], date(2026, 11, 1)) == new.date
    assert since_for("training", "svc", [old, undone], date(2026, 11, 1)) is None
    assert since_for("training", "svc", [new], date(2026, 1, 1)) is None      # after as-of
    assert since_for("retirement", "svc", [other], date(2026, 11, 1)) == other.date
    assert since_for("flow", "svc", [new, other], date(2026, 11, 1)) is None
    assert since_for("training", "other_svc", [new], date(2026, 11, 1)) is None


def test_a_staircase_is_dated_from_its_first_step() -> None:
    key = SeriesKey("service", "svc", "users")
    steps = [Shift(key, date(2026, 2, 2), 100, 80, -0.2, 1.0, False, 6.0),
             Shift(key, date(2026, 4, 6), 80, 60, -0.25, 1.0, False, 6.0)]
    assert since_for("retirement", "svc", steps, date(2026, 11, 1)) == date(2026, 2, 2)


# -- the demo organisation -----------------------------------------------------------------

# Leaks with nothing to shift: a date passed (end of life) or an outcome was retired.
STRUCTURAL = ("end of life", "retired on")
HIT_WEEKS = 3


@pytest.fixture(scope="module")
def demo(demo_org: Path, demo_truth: GroundTruth) -> tuple[GroundTruth, ShiftIndex, float]:
    truth = demo_truth
    package = load_package(demo_org)
    try:
        ctx = CheckContext(package.model, package.signals, Window(truth.as_of), CommonSpec())
        start = time.perf_counter()
        index = detect_all(ctx)
        seconds = time.perf_counter() - start
        assert detect_all(ctx) is index                    # once per check
    finally:
        package.close()
    return truth, index, seconds


@pytest.mark.slow
def test_demo_since_dates_the_seeded_leaks(demo: tuple[GroundTruth, ShiftIndex, float]) -> None:
    """Every seeded leak whose cause has a series and whose recipe moves a signal: ``since``
    within three weeks of the seeded start for at least 15 of them (seed 7: 16 of 19). Known
    misses: perception on quarterly pulse checks is dated by the first pulse after the onset
    (up to 13 weeks late) or, when subtle, not found on ~5 answers a pulse."""
    truth, index, _ = demo
    signal = [x for x in truth.leaks if x.cause in CAUSE_SERIES
              and not any(s in x.description for s in STRUCTURAL)]
    report = []
    for leak in signal:
        since = index.since(leak.service, leak.cause, truth.as_of)
        off = None if since is None else (since - leak.start).days / 7
        report.append((leak.service, leak.cause, leak.start, since, off))
    hits = [r for r in report if r[4] is not None and abs(r[4]) <= HIT_WEEKS]
    misses = [r for r in report if r not in hits]
    assert len(signal) >= 15
    assert len(hits) >= 15, misses
    assert all(r[1] == "perception" or r[1] == "alignment" for r in misses), misses


@pytest.mark.slow
def test_demo_healthy_services_rarely_get_a_since(demo: tuple[GroundTruth, ShiftIndex,
                                                              float]) -> None:
    truth, index, _ = demo
    dated = [(sid, cause) for sid in truth.healthy for cause in CAUSE_SERIES
             if index.since(sid, cause, truth.as_of)]
    assert len(dated) <= 0.05 * len(truth.healthy) * len(CAUSE_SERIES), dated


@pytest.mark.slow
def test_demo_series_and_shifts_are_there(demo: tuple[GroundTruth, ShiftIndex, float]) -> None:
    """(How fast is measured by benchmarks/shifts.py, not here: a loaded CI machine is slow.)"""
    truth, index, _ = demo
    users = index.series("crm", "users")
    assert len(users) == 1 and len(users[0]) >= 150
    assert users[0].weeks[-1] <= truth.as_of
    leak = next(x for x in truth.leaks if x.cause == "change")
    drv = index.driver(leak.service, "change", truth.as_of)
    assert drv is not None and drv in index.shifts(leak.service)
    assert drv.series_key in index.series_by_key
