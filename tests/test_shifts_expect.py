"""``ShiftIndex.expect`` (session 18): the series the leaks' ``driver`` questions will read are
screened together and alone, not with every series of their metric and weeks; the answers are
those of an index asked one question at a time, expected or not, in any order."""

from __future__ import annotations

from collections import defaultdict
from datetime import date

import pytest

from dipstick.shifts import CAUSE_SERIES, Series, SeriesKey, ShiftIndex
from test_shifts_batch import generated

CASES = ("retirement", "training", "change", "employee_experience")
AS_OF = date(2027, 1, 1)


def _index(seed: int) -> tuple[dict[SeriesKey, Series], dict[str, list[SeriesKey]]]:
    """Services with series of every cause above, of varied weeks (full, gaps, short,
    quarterly, a year), higher-worse and higher-better."""
    wanted = sorted({m for c in CASES for m in CAUSE_SERIES[c]})
    by_key: dict[SeriesKey, Series] = {}
    for i, s in enumerate(generated(seed, 480)):
        key = SeriesKey("service", f"svc{i // 8}", wanted[i % len(wanted)], s.key.part)
        by_key[key] = Series(key, s.index, s.values, bool(i % 4 < 2))
    links: dict[str, list[SeriesKey]] = defaultdict(list)
    for k in by_key:
        links[k.subject].append(k)
    return by_key, dict(links)


@pytest.mark.parametrize("seed", [51, 52])
def test_expected_drivers_answer_as_unexpected_ones(seed: int) -> None:
    by_key, links = _index(seed)
    services = sorted(links)
    expected = [(sid, c) for j, sid in enumerate(services) for c in CASES if (j + len(c)) % 3]
    plain = ShiftIndex(by_key, links=links)
    hinted = ShiftIndex(by_key, links=links)
    hinted.expect(iter(expected))
    # only the expected services' series of their causes' metrics are screened, all of them
    reads = {k for sid, c in expected for k in links[sid] if k.metric in CAUSE_SERIES[c]}
    assert set(hinted._found) | set(hinted._ready) == reads
    kept = dict(hinted._ready)
    assert kept and len(reads) < len(by_key)
    # questions expected and not, drivers and others, in an order other than the hint's
    named = 0
    for sid in reversed(services):
        for c in CASES:
            want = plain.driver(sid, c, AS_OF)
            assert hinted.driver(sid, c, AS_OF) == want, (sid, c)
            named += want is not None
        for k in sorted(links[sid]):
            assert hinted.last_bad(k, date(2026, 6, 1)) == plain.last_bad(k, date(2026, 6, 1))
        assert hinted.shifts(sid) == plain.shifts(sid)
    assert named > 20
    # a series screened for the hint is not screened again with the rest of its group
    assert all(hinted._ready.get(k, r) is r for k, r in kept.items())
    assert hinted.all_shifts() == plain.all_shifts()


def test_an_empty_hint_screens_nothing() -> None:
    by_key, links = _index(53)
    index = ShiftIndex(by_key, links=links)
    index.expect([])
    index.expect([("no such service", "retirement"), (sorted(links)[0], "flow")])
    assert not index._found and not index._ready


@pytest.mark.parametrize("seed", [54, 55])
def test_expected_series_answer_as_unexpected_ones(seed: int) -> None:
    """``expect_series`` (session 19): the keys a cause will ask ``last_bad`` about, screened
    together and only those; every answer as an unhinted index's, in another order."""
    by_key, links = _index(seed)
    keys = [k for i, k in enumerate(sorted(by_key)) if i % 3 != 1]
    plain = ShiftIndex(by_key, links=links)
    hinted = ShiftIndex(by_key, links=links)
    hinted.expect_series(iter([*keys, SeriesKey("service", "nobody", "users", "")]))
    assert set(hinted._found) | set(hinted._ready) == set(keys)
    kept = dict(hinted._ready)
    assert kept
    for sid in reversed(sorted(links)):
        for k in sorted(links[sid], reverse=True):
            for since in (date(2025, 1, 1), date(2026, 6, 1)):
                assert hinted.last_bad(k, since) == plain.last_bad(k, since), k
        assert hinted.shifts(sid, after=date(2026, 1, 1)) == \
            plain.shifts(sid, after=date(2026, 1, 1))
        for c in CASES:
            assert hinted.driver(sid, c, AS_OF) == plain.driver(sid, c, AS_OF)
    assert all(hinted._ready.get(k, r) is r for k, r in kept.items())
    assert hinted.all_shifts() == plain.all_shifts()
