"""The first pass of segmentation, as ``ShiftIndex.last_bad`` uses it to skip the rest: the
noise the batched screen hands over is ``segment.noise`` to the last bit, a segmentation
resumed from the first pass is the one run in one go, and the first pass's ``last_cut`` bounds
where the last step can be — on the generated series of tests/test_shifts_batch.py (every edge
case: constant, mostly zero, NaN, short, gaps, quarterly, seasonal, steps, ramps, staircases)
under several settings. The ``since`` sweep checks the answers themselves against full
detection, with ``since`` on every week around the bound."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest

from dipstick.shifts import Series, SeriesKey, ShiftIndex, detect
from dipstick.shifts.batch import screen
from dipstick.shifts.detect import Params, adjust, long_enough, week_date
from dipstick.shifts.segment import FIRST_PASS, MIN_POINTS, _binseg, begin, noise, second, undated
from test_shifts_batch import FIRST, _last_bad, generated

SETTINGS = (Params(), Params(penalty=1.0, min_size=3), Params(max_shifts=2),
            Params(min_effect=0.0, min_confidence=0.5))


def _adjusted(s: Series, p: Params) -> tuple[np.ndarray, np.ndarray]:
    y, keep = adjust(s.index, s.values, p)
    return y[keep], s.index[keep]


@pytest.mark.parametrize("seed", [21, 22])
def test_the_screens_noise_is_segmentations_own(seed: int) -> None:
    """Bit for bit, NaN included: a last-bit difference would move a threshold."""
    many = generated(seed, 400)
    ready = [r for r in screen(many) if r is not None]
    assert len(ready) > 100
    for r in ready:
        assert r.sigma is not None
        want = noise(r.values)
        assert np.float64(r.sigma).view(np.int64) == np.float64(want).view(np.int64) or (
            np.isnan(r.sigma) and np.isnan(want))


@pytest.mark.parametrize("p", SETTINGS)
def test_segmentation_resumed_from_its_first_pass_is_the_same(p: Params) -> None:
    many = [s for s in generated(23, 300) if long_enough(s, p)]
    for s, r in zip(many, screen(many, p), strict=True):
        y, weeks = _adjusted(s, p)
        whole = undated(y, weeks, p)
        assert undated(y, weeks, p, begun=begin(y, weeks, p)) == whole
        if r is not None:                       # with the screen's first split and noise
            assert undated(r.values, r.weeks, p, begun=begin(
                r.values, r.weeks, p, r.first, r.sigma)) == whole


def _falling_staircases(count: int) -> list[Series]:
    """Steps rightwards, each half the one before: every split's best is the next step, so
    the right-hand chain is longer than the first pass's :data:`FIRST_PASS` cuts."""
    rng = np.random.default_rng(27)
    weeks = FIRST + np.arange(157)
    out = []
    for i in range(count):
        at = np.sort(rng.choice(np.arange(12, 146), size=6, replace=False))
        values = rng.normal(100, 1, 157)
        for j, a in enumerate(at):
            values[a:] += rng.choice([-1, 1]) * 64 / 2**j
        out.append(Series(SeriesKey("service", f"f{i}", "users"), weeks, values))
    return out


@pytest.mark.parametrize("p", SETTINGS)
def test_the_first_pass_bounds_the_last_step(p: Params) -> None:
    """No pass, pruned or not, puts a change point after ``last_cut``; ``-1`` means no step.
    The bound must reach past the first pass's own cuts where that pass stopped at its
    limit (else a later second-pass cut would be missed), and be tight where it can."""
    many = [s for s in generated(24, 400) + _falling_staircases(40) if long_enough(s, p)]
    past_first = tight = 0
    for s in many:
        y, weeks = _adjusted(s, p)
        b = begin(y, weeks, p)
        found = undated(y, weeks, p)
        if b.last_cut < 0:
            assert not found.steps
            continue
        assert b.cuts and b.cuts[-1] <= b.last_cut
        second = _binseg(y, weeks.tolist(), found.var, p, p.max_shifts) if found.steps else []
        assert all(c <= b.last_cut for c in [*found.cuts, *second])
        past_first += bool(second) and second[-1] > b.cuts[-1]
        tight += bool(found.cuts) and found.cuts[-1] == b.last_cut
    assert tight > 30
    if p.max_shifts > FIRST_PASS:
        assert past_first > 0


@pytest.mark.parametrize("p", SETTINGS)
def test_the_screens_bound_is_the_first_pass_bound(p: Params) -> None:
    """The screen follows the chain for all its rows at once (``batch.last_links``); each
    row's bound must be the one-series first pass's, to the position."""
    many = generated(28, 400) + _falling_staircases(40)
    ready = [r for r in screen(many, p) if r is not None]
    assert len(ready) > 100
    lasts = [r.last_cut for r in ready]
    assert lasts == [begin(r.values, r.weeks, p, r.first, r.sigma).last_cut for r in ready]
    assert lasts == [begin(r.values, r.weeks, p).last_cut for r in ready]
    assert sum(k == -1 for k in lasts) < len(lasts) // 2 < sum(k is not None for k in lasts)


@pytest.mark.parametrize("seed", [25, 26])
def test_last_bad_from_the_bound_is_full_detections_answer(seed: int) -> None:
    """``since`` on every week around the latest date the bound allows, on fresh indexes and
    both ways round (higher worse and better), so each last step is bad once."""
    many = [Series(SeriesKey("service", s.key.subject, "users", f"{s.key.part}{worse}"),
                   s.index, s.values, worse)
            for s in generated(seed, 200) for worse in (False, True)]
    by_key = {s.key: s for s in many}
    recent = 0
    for k in sorted(by_key):
        s = by_key[k]
        shifts = detect(s)
        if not long_enough(s):
            continue
        y, weeks = _adjusted(s, Params())
        b = begin(y, weeks, Params())
        if b.last_cut < 0:
            continue
        latest = week_date(int(weeks[min(b.last_cut + MIN_POINTS, len(weeks) - 1)]))
        for d in range(-5, 3):
            since = latest + timedelta(days=7 * d)
            got = ShiftIndex({k: s}).last_bad(k, since)
            assert got == _last_bad(shifts, since), (k, since)
            recent += got is not None
    assert recent > 20


@pytest.mark.parametrize(("seed", "i"), [(15, 175), (15, 229), (21, 49)])
def test_a_last_shift_dated_on_the_latest_week_the_bound_allows(seed: int, i: int) -> None:
    """The bound's edge: the last shift dated exactly on the latest week the first pass
    allows (``MIN_POINTS`` after ``last_cut``; found by search, staircases), asked with
    ``since`` on that very week, higher worse and better, each on a fresh index."""
    s = generated(seed, 300)[i]
    y, weeks = _adjusted(s, Params())
    cut = begin(y, weeks, Params()).last_cut
    latest = week_date(int(weeks[cut + MIN_POINTS]))
    answered = 0
    for worse in (False, True):
        one = Series(s.key, s.index, s.values, worse)
        shifts = detect(one)
        assert shifts[-1].date == latest                              # the edge case itself
        got = ShiftIndex({one.key: one}).last_bad(one.key, latest)
        assert got == _last_bad(shifts, latest)
        answered += got is not None
    assert answered == 1


def test_shifts_after_a_day_are_all_shifts_after_it() -> None:
    """``ShiftIndex.shifts(…, after=day)`` (the change indicator's question) is the full list
    filtered to the shifts dated after ``day``, for ``day`` on every few weeks and on both sides
    of the edge series' latest allowed week; and it leaves series unsegmented."""
    many = generated(29, 200) + [generated(seed, 300)[i] for seed, i in
                                 [(15, 175), (15, 229), (21, 49)]]
    by_key = {SeriesKey("service", "one", "users", f"{i}"): Series(
        SeriesKey("service", "one", "users", f"{i}"), s.index, s.values, s.higher_is_worse)
        for i, s in enumerate(many)}
    links = {"one": list(by_key)}
    full = ShiftIndex(dict(by_key), links=links).shifts("one")
    assert len(full) > 50
    days = sorted({s.date + timedelta(days=d) for s in full for d in (-1, 0)})
    skipped = 0
    for day in days[::7] + days[-12:]:
        index = ShiftIndex(dict(by_key), links=links)
        assert index.shifts("one", after=day) == [s for s in full if s.date > day], day
        skipped += len(index._ready)
    assert skipped > 0


@pytest.mark.parametrize("p", SETTINGS)
def test_the_second_bound_bounds_the_second_pass(p: Params) -> None:
    """``segment.second``'s bound (session 15): no change point of the second pass, pruned
    or not, is after it; ``-1`` means no step; it is never after the first pass's bound, and
    often before it (else it would save nothing)."""
    many = [s for s in generated(31, 400) + _falling_staircases(40) if long_enough(s, p)]
    tighter = 0
    for s in many:
        y, weeks = _adjusted(s, p)
        b = begin(y, weeks, p)
        if b.last_cut < 0:
            continue
        more = second(y, b, p)
        found = undated(y, weeks, p)
        assert found == undated(y, weeks, p, begun=begin(y, weeks, p), more=more)
        assert more.var == found.var or not found.steps
        cuts = _binseg(y, weeks.tolist(), more.var, p, p.max_shifts)
        if more.last_cut < 0:
            assert not cuts and not found.steps
            continue
        assert all(c <= more.last_cut for c in [*found.cuts, *cuts])
        assert more.last_cut <= b.last_cut
        tighter += more.last_cut < b.last_cut
    assert tighter > 20


@pytest.mark.parametrize("seed", [32, 33])
def test_last_bad_from_the_second_bound_is_full_detections_answer(seed: int) -> None:
    """As the first bound's sweep, with ``since`` on every week around the latest date the
    second bound allows, where it is before the first's (the questions it answers alone)."""
    many = [Series(SeriesKey("service", s.key.subject, "users", f"{s.key.part}{worse}"),
                   s.index, s.values, worse)
            for s in generated(seed, 300) + _falling_staircases(30) for worse in (False, True)]
    by_key = {s.key: s for s in many}
    asked = recent = 0
    for k in sorted(by_key):
        s = by_key[k]
        if not long_enough(s):
            continue
        y, weeks = _adjusted(s, Params())
        b = begin(y, weeks, Params())
        if b.last_cut < 0:
            continue
        more = second(y, b, Params())
        if more.last_cut >= b.last_cut:
            continue
        shifts = detect(s)
        cut = max(more.last_cut, 0)
        latest = week_date(int(weeks[min(cut + MIN_POINTS, len(weeks) - 1)]))
        for d in range(-3, 5):
            since = latest + timedelta(days=7 * d)
            index = ShiftIndex({k: s})
            got = index.last_bad(k, since)
            assert got == _last_bad(shifts, since), (k, since)
            asked += 1
            recent += got is not None
    assert asked > 100 and recent > 5
