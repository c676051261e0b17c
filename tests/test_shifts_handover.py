"""What the screen hands on, and what ``ShiftIndex`` skips with it (session 17): the right-hand
chain's splits scored by ``batch.last_links`` are ``segment._best_split``'s to the last bit and
resume segmentation unchanged; ``ShiftIndex.driver`` dates only series with a step that may be
bad and still names the shift full detection names; the season's rows computed one way when all
rows are multiplicative (or all additive) are the one-series values bit for bit."""

from __future__ import annotations

from collections import defaultdict
from datetime import date

import numpy as np
import pytest

from dipstick.shifts import CAUSE_SERIES, Series, SeriesKey, ShiftIndex, detect, driver
from dipstick.shifts.batch import adjust_many, screen
from dipstick.shifts.detect import Params, adjust
from dipstick.shifts.segment import Split, _best_split, begin, undated
from test_shifts_batch import FIRST, KINDS, _values, _weeks, generated
from test_shifts_bound import SETTINGS, _falling_staircases


def _bits(split: Split | None) -> tuple[int, int] | None:
    """A split comparable bit for bit (NaN gains included)."""
    return None if split is None else (int(np.float64(split[0]).view(np.int64)), split[1])


@pytest.mark.parametrize("p", SETTINGS)
def test_the_screens_chain_is_best_splits_own(p: Params) -> None:
    """Every link the screen hands on, the failing last one included, is ``_best_split`` of
    ``(a, n)``; and a first pass resumed from them is the first pass scored alone."""
    many = generated(41, 400) + _falling_staircases(40)
    ready = [r for r in screen(many, p) if r is not None]
    links = 0
    for r in ready:
        n, weeks = len(r.values), r.weeks.tolist()
        for a, split in r.chain():
            assert _bits(split) == _bits(_best_split(r.values, weeks, a, n, p.min_size))
        links += len(r.chain())
        handed = begin(r.values, r.weeks, p, r.first, r.sigma, r.chain())
        alone = begin(r.values, r.weeks, p, r.first, r.sigma)
        assert (handed.cuts, handed.last_cut) == (alone.cuts, alone.last_cut)
        assert {k: _bits(v) for k, v in alone.splits.items()}.items() <= \
            {k: _bits(v) for k, v in handed.splits.items()}.items()
        assert undated(r.values, r.weeks, p, begun=handed) == undated(r.values, r.weeks, p)
    assert links > len(ready)           # chains longer than their first split are common


@pytest.mark.parametrize("seed", [42, 43])
def test_the_leaks_driver_is_full_detections(seed: int) -> None:
    """``ShiftIndex.driver`` skips dating the series whose undated steps are none of them
    bad; its answer must be the module's ``driver`` over every dated shift of the service, for
    causes of one and of two series, on series higher-worse and higher-better."""
    cases = ("retirement", "training", "change")
    series: list[Series] = []
    for i, s in enumerate(generated(seed, 360)):
        cause = cases[i % len(cases)]
        metric = CAUSE_SERIES[cause][(i // len(cases)) % 2]
        key = SeriesKey("service", f"svc{i // 6}", metric, s.key.part)
        series.append(Series(key, s.index, s.values, bool(i % 4 < 2)))
    by_key = {s.key: s for s in series}
    links: dict[str, list[SeriesKey]] = defaultdict(list)
    for k in by_key:
        links[k.subject].append(k)
    full = {k: detect(s) for k, s in by_key.items()}
    as_of = date(2027, 1, 1)
    index = ShiftIndex(by_key, links=dict(links))
    named = skipped = 0
    for sid in sorted(links):
        for cause in cases:
            want = driver(cause, sid, [x for k in links[sid] for x in full[k]], as_of)
            assert index.driver(sid, cause, as_of) == want, (sid, cause)
            named += want is not None
    skipped = sum(1 for k in by_key if k not in index._found and k in index._undated)
    assert named > 40 and skipped > 50


@pytest.mark.parametrize("kinds", [("seasonal", "step", "spiky", "ramp", "staircase"),
                                   ("negative",), KINDS])
def test_season_rows_all_of_one_kind_are_the_one_series_values(kinds: tuple[str, ...]) -> None:
    """Positive rows only (ratios), additive rows only, and both mixed: each adjusted row
    equals ``detect.adjust`` of the row alone, bit for bit."""
    rng = np.random.default_rng(44)
    for shape in ("full", "gaps"):
        weeks = FIRST + _weeks(rng, shape)
        x = np.stack([_values(rng, k, weeks) for k in kinds for _ in range(4)])
        if kinds != KINDS:
            assert len({bool(np.all(row > 0)) for row in x}) == 1
        y, keep = adjust_many(weeks, x)
        for row, values in zip(y, x, strict=True):
            one, one_keep = adjust(weeks, values)
            assert np.array_equal(one_keep, keep)
            assert np.array_equal(one.view(np.int64), row.view(np.int64))
