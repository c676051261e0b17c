"""A large state log's discovery aggregates in NumPy (streams/on_numpy.py) must give exactly the
Discovery the SQL gives (engine/discovery_sql.py), JSON equal to the last bit: on random logs
with ties broken by the order column and the file row, repeats, waiting states, a process
filter, collapsed audit trails, any number of activities; on an export already in case order
(the sort skipped) and on the real ServiceNow log. Resources and services:
tests/test_discovery_numpy_people.py."""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any

import duckdb
import numpy as np
import pytest

from dipstick.engine import discovery_sql as q
from dipstick.engine.sql import connect
from dipstick.streams import on_numpy, on_numpy_groups, on_numpy_variants
from dipstick.streams.logs import LogMapping, read_event_log
from dipstick.streams.on_duckdb import discover_relation

from realdata import SERVICENOW_LOG, require

T0 = datetime(2026, 3, 2, 9, 0)
STATES = ["New", "Triage", "In Progress", "Awaiting User", "Pending Vendor", "Review",
          "Resolved", "Closed"]


def state_log(seed: int, cases: int = 80, states: list[str] = STATES, in_case_order: bool = False,
              seconds: bool = False, in_time_order: bool = False) -> duckdb.DuckDBPyConnection:
    """A canonical state-log table: equal times in a case (ties broken by ``seq``, itself
    with ties broken by ``_row``), repeats, waiting states, two processes, one-event cases;
    rows shuffled, or stored in (case, time, order, row) order, or in (time, order, row)
    order (an export sorted by time: each case's events in order, not adjacent)."""
    rng = random.Random(seed)
    rows: list[tuple[Any, ...]] = []
    for c in range(cases):
        t = T0 + timedelta(hours=rng.randint(0, 24 * 40))
        process = rng.choice(["incident", "request"])
        for _ in range(rng.randint(1, 9)):
            step = rng.choice([0, 0, 5, 30, 240, 1440])
            t += timedelta(seconds=step * 7 + rng.randint(0, 3)) if seconds else timedelta(
                minutes=step)
            rows.append((f"C{rng.randint(0, 10**6):07}-{c}", rng.choice(states), t, process))
    # one case id per case (the random prefix only shuffles their text order)
    ids: dict[str, str] = {}
    rows = [(ids.setdefault(r[0].split("-")[1], r[0]), *r[1:]) for r in rows]
    numbered = [(*r, rng.randint(0, 2), i) for i, r in enumerate(rows, 1)]
    if in_case_order:
        numbered.sort(key=lambda r: (r[0], r[2], r[4], r[5]))
    elif in_time_order:
        numbered.sort(key=lambda r: (r[2], r[4], r[5]))
    else:
        rng.shuffle(numbered)
    con = connect()
    con.execute("CREATE TABLE events (case_id VARCHAR, activity VARCHAR, timestamp TIMESTAMP, "
                "process VARCHAR, seq BIGINT, _row BIGINT)").fetchall()
    con.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?)", numbered)
    return con


def both(rel: duckdb.DuckDBPyRelation, **kw: Any) -> None:
    """The NumPy aggregates ran (not the SQL fallback) and gave the SQL's Discovery exactly."""
    log = q.shape(q.only_process(rel, kw.get("process")))
    assert on_numpy.applies(log)
    assert on_numpy.aggregates(q.only_process(rel, kw.get("process")), log, [],
                               kw.get("collapse", False), 10) is not None
    fast = discover_relation(rel, arrays=True, **kw)
    sql = discover_relation(rel, arrays=False, **kw)
    assert fast.cases > 0
    assert json.dumps(fast.to_json()) == json.dumps(sql.to_json())
    assert fast.stream("s", "s").to_json() == sql.stream("s", "s").to_json()
    # not in the JSON: the waits' squares, the spread a comparison of two windows needs
    assert [a.wait_seconds_sq for a in fast.activities] == pytest.approx(
        [a.wait_seconds_sq for a in sql.activities], rel=1e-12, abs=0)


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_numpy_equals_sql_on_random_state_logs(seed: int) -> None:
    con = state_log(seed, seconds=seed % 2 == 0)
    events = con.table("events")
    both(events)
    both(events, top_variants=1000)
    both(events, top_variants=3)
    both(events, process="request", waiting=("review", "awaiting"), top_variants=7)
    both(events, collapse=True)
    both(events, collapse=True, top_variants=1000)
    # a table as a package gives it: no file row, ties in (time, order) left to the fetch order
    # by both — so equal order values are made distinct here
    con.execute("CREATE TABLE bare AS SELECT case_id, activity, timestamp, _row AS seq "
                "FROM events").fetchall()
    both(con.table("bare"))


def order_of(con: duckdb.DuckDBPyConnection) -> tuple[Any, ...]:
    """The events table's case hashes, times, order and rows, and its distinct hashes."""
    cols = con.execute("SELECT hash(case_id) AS h, epoch_us(timestamp) AS t, seq AS s, "
                       "_row AS r FROM events").fetchnumpy()
    return cols["h"], cols["t"], cols["s"], cols["r"], np.unique(cols["h"])


def fixed(r: Any) -> Any:
    """The file row as the ordering asks for it (a call)."""
    return lambda: r


def rows_of(h: Any, t: Any, s: Any, r: Any, hashes: Any) -> tuple[Any, ...]:
    """``order_of``'s arrays with the file row as the ordering asks for it."""
    return h, t, s, fixed(r), hashes


def test_numpy_equals_sql_in_case_order_without_a_sort() -> None:
    """An export already in (case, time, order, row) order is read as it is: no sort."""
    con = state_log(5, cases=120, in_case_order=True)
    assert on_numpy._case_order(*rows_of(*order_of(con))).order == slice(None)
    both(con.table("events"))
    both(con.table("events"), collapse=True)


@pytest.mark.parametrize("in_time_order", [True, False])
def test_the_case_order_is_the_full_sort(in_time_order: bool) -> None:
    """An export sorted by time is put in case order by one sort of (case, index), a shuffled
    one by the lexsort: both give the order by (case, time, order, row) exactly."""
    con = state_log(9, cases=300, in_time_order=in_time_order, seconds=in_time_order)
    h, t, s, r, hashes = order_of(con)
    expected = np.lexsort((r, s, t, h))
    assert not np.array_equal(expected, np.arange(len(h)))   # not in case order already
    ordered = on_numpy._case_order(h, t, s, lambda: r, hashes)
    assert np.array_equal(ordered.order, expected)
    assert np.array_equal(ordered.t, t[expected])   # the times as gathered for the check
    new = h[expected][1:] != h[expected][:-1]
    assert np.array_equal(ordered.case[1:] != ordered.case[:-1], new)   # a case's key
    stable = on_numpy._stable_by_case(h, t, s, lambda: r, hashes)
    assert (stable is not None) is in_time_order   # the sort, or the lexsort after it
    both(con.table("events"))
    both(con.table("events"), collapse=True, top_variants=1000)


def test_cases_told_apart_by_their_last_bits_only_are_not_merged() -> None:
    """The stable sort packs only a hash's leading bits: where two cases share those, the
    lexsort orders them (here hashes 1 and 2 and events alternating in time)."""
    h = np.array([1, 2, 1, 2, 1, 2], np.uint64)
    t = np.arange(6, dtype=np.int64) * 60
    s = r = np.arange(6, dtype=np.int64)
    hashes = np.array([1, 2], np.uint64)
    assert on_numpy._stable_by_case(h, t, s, lambda: r, hashes) is None
    assert np.array_equal(on_numpy._case_order(h, t, s, lambda: r, hashes).order,
                          [0, 2, 4, 1, 3, 5])


def test_numpy_equals_sql_with_many_activities() -> None:
    """No 64-activity limit here (the SQL changes its repeat test above 64)."""
    many = [*STATES, *(f"Step {i}" for i in range(70))]
    con = state_log(6, cases=300, states=many)
    both(con.table("events"))
    both(con.table("events"), collapse=True)


def test_numpy_on_one_case_and_one_event_cases() -> None:
    con = connect()
    con.execute("CREATE TABLE events AS SELECT 'c' || i AS case_id, 'New' AS activity, "
                "TIMESTAMP '2026-03-02 09:00' + INTERVAL (i) HOUR AS timestamp, i AS seq, "
                "i AS _row FROM range(4) t(i)").fetchall()
    both(con.table("events"))
    con.execute("CREATE TABLE one AS SELECT 'c' AS case_id, ['New', 'Awaiting User', 'New', "
                "'Closed'][i + 1] AS activity, TIMESTAMP '2026-03-02 09:00' + INTERVAL (i * i) "
                "MINUTE AS timestamp, i AS seq, i AS _row FROM range(4) t(i)").fetchall()
    both(con.table("one"))


def test_numpy_equals_sql_on_the_real_log() -> None:
    log = require(SERVICENOW_LOG)
    con = connect()
    read_event_log(con, log, LogMapping(case_id="number", activity="incident_state",
                                        timestamp="sys_updated_at", seq="sys_mod_count",
                                        timestamp_format="%d/%m/%Y %H:%M"))
    both(con.table("events"))
    both(con.table("events"), collapse=True, top_variants=50)


def test_a_missing_order_goes_to_the_sql() -> None:
    """A relation not read by dipstick may lack an order value: NumPy has no NULL, the SQL
    sorts it last; the answer is the SQL's."""
    con = state_log(8)
    con.execute("UPDATE events SET seq = NULL WHERE _row % 5 = 0").fetchall()
    events = con.table("events")
    assert on_numpy.aggregates(events, q.shape(events), [], False, 10) is None
    fast = discover_relation(events, arrays=True)
    assert fast.to_json() == discover_relation(events, arrays=False).to_json()


def test_lifecycle_logs_stay_with_the_sql() -> None:
    """Resources and services are NumPy's too (tests/test_discovery_numpy_people.py)."""
    con = state_log(7)
    con.execute("ALTER TABLE events ADD COLUMN resource VARCHAR").fetchall()
    con.execute("UPDATE events SET resource = 'ana' WHERE seq = 1").fetchall()
    assert on_numpy.applies(q.shape(con.table("events")))
    both(con.table("events"))
    con.execute("ALTER TABLE events ADD COLUMN lifecycle VARCHAR").fetchall()
    con.execute("UPDATE events SET lifecycle = 'start' WHERE seq = 2").fetchall()
    assert not on_numpy.applies(q.shape(con.table("events")))


def test_the_fallbacks_for_many_pairs_and_wide_spans_agree_with_the_fast_forms() -> None:
    """Paths a test log never takes (more (case, activity) pairs than a slot each is worth,
    durations too wide to pack with their group, cases longer than a hash table is worth):
    each equals its fast form or a plain Python count."""
    rng = np.random.default_rng(3)
    pair = rng.integers(0, 500, 3000).astype(np.int64)
    pairs = pair[:200]
    assert on_numpy._rework_cases(pairs, 500, 10) == on_numpy._rework_cases(pairs, 10**12, 10)

    # packed with the group, then too wide for that (8 groups × 2⁵⁹ µs, sums still in int64)
    for group, us in ((rng.integers(0, 7, 2000), rng.integers(0, 10**9, 2000)),
                      (np.arange(40) % 8, np.append([0, 2**59], rng.integers(0, 2**59, 38)))):
        group = group.astype(np.int64)
        g = on_numpy_groups.grouped(group, us.astype(np.int64))
        for k, n, total, lo, hi, med in zip(g.keys, g.count, g.total, g.lo, g.hi, g.median,
                                            strict=True):
            mine = sorted(int(x) for x in us[group == k])
            assert (n, total, lo, hi) == (len(mine), sum(mine), mine[0], mine[-1])
            mid = (mine[(n - 1) // 2] / 1e6, mine[n // 2] / 1e6)
            assert med == (mid[0] if mid[0] == mid[1] else on_numpy_groups.between(*mid, 0.5))

    code = rng.integers(0, 8, 1000).astype(np.int64)
    pos = rng.integers(1, 30, 1000).astype(np.int64)
    for i in (0, 1):
        table = on_numpy_variants.variant_hash(code, pos, i)   # 8 × 30 table < 1000 events
        direct = on_numpy_variants.variant_hash(np.append(code, 0), np.append(pos, 10**5), i)
        assert (table == direct[:-1]).all()


def plain_groups(group: np.ndarray, us: np.ndarray) -> list[tuple[Any, ...]]:
    """Per key, ascending: count, sum, least, greatest and median, by sorting in Python."""
    out = []
    for k in sorted(set(group.tolist())):
        mine = sorted(int(x) for x in us[group == k])
        n = len(mine)
        mid = (mine[(n - 1) // 2] / 1e6, mine[n // 2] / 1e6)
        med = mid[0] if mid[0] == mid[1] else on_numpy_groups.between(*mid, 0.5)
        out.append((k, n, sum(mine), mine[0], mine[-1], med))
    return out


@pytest.mark.parametrize("keys", [8, 3_000, 8_000, 40_000])
def test_grouped_sums_and_repeats_by_radix_sort_equal_plain_counts(keys: int) -> None:
    """The radix-sort forms (16-bit keys: a partition per group for the medians, ``bincount``
    or runs for exact sums, one sort by activity for repeats) and their fallbacks (more groups
    than partitions pay for, keys of 2¹⁵ and more) equal plain Python on the same data."""
    rng = np.random.default_rng(keys)
    n = 20_000
    group = rng.integers(0, keys, n).astype(np.int64)
    us = rng.integers(0, 10**6, n).astype(np.int64) * rng.integers(1, 4, n)   # ties in groups
    g = on_numpy_groups.grouped(group, us)
    assert list(zip(g.keys.tolist(), g.count.tolist(), g.total.tolist(), g.lo.tolist(),
                    g.hi.tolist(), g.median, strict=True)) == plain_groups(group, us)
    big = us * 10**7 + 1   # odd, partial sums past 2⁵³: inexact as doubles
    for values in (us, big, np.append(us[:-1], -5)):
        expected = [0] * keys
        for k, v in zip(group.tolist(), values.tolist(), strict=True):
            expected[k] += v
        assert on_numpy._sums(group, values, keys).tolist() == expected

    case = np.sort(rng.integers(0, n // 6, n)).astype(np.int64)   # events in case order
    code = rng.integers(0, keys, n).astype(np.int64)
    code[::97] = keys - 1
    seen: set[tuple[int, int]] = set()
    plain = []
    for p in zip(case.tolist(), code.tolist(), strict=True):
        plain.append(p in seen)
        seen.add(p)
    assert on_numpy._again(case, code).tolist() == plain


def test_the_stable_sort_is_refused_where_a_tie_in_time_is_out_of_order() -> None:
    """Within one case and one time the file order must follow the order column, then the
    file row: it is checked at those events only, and one out of order sends the events to
    the lexsort."""
    h = np.array([1 << 60, 1 << 62, 1 << 60, 1 << 62, 1 << 60], np.uint64)
    hashes = np.array([1 << 60, 1 << 62], np.uint64)
    t = np.array([0, 0, 60, 60, 60], np.int64)   # case A: one time twice (events 2 and 4)
    r = np.arange(5, dtype=np.int64)
    for s_tie, r_tie, kept in ((2, 3, True), (0, 3, False), (1, 3, True), (1, 1, False)):
        s = np.array([0, 0, 1, 0, s_tie], np.int64)
        rr = r.copy()
        rr[4] = r_tie
        row = fixed(rr)
        found = on_numpy._stable_by_case(h, t, s, row, hashes)
        assert (found is not None) is kept, (s_tie, r_tie)
        expected = np.lexsort((rr, s, t, h))
        assert np.array_equal(on_numpy._case_order(h, t, s, row, hashes).order, expected)
        if found is not None:
            assert np.array_equal(found.order, expected)
            assert np.array_equal(found.t, t[expected])
    t[4] = 30   # case A's last event in the file is earlier than the one before it
    s = np.zeros(5, np.int64)
    assert on_numpy._stable_by_case(h, t, s, lambda: r, hashes) is None
    assert np.array_equal(on_numpy._case_order(h, t, s, lambda: r, hashes).order,
                          np.lexsort((r, s, t, h)))


def test_cases_of_one_variant_are_made_adjacent_by_one_argsort_or_the_lexsort() -> None:
    """``on_numpy_variants._adjacent``: the packed ``argsort`` groups exactly the triples the
    three-key ``lexsort`` groups; a length and h0 shared by two h1, or a span too wide to pack,
    take the lexsort."""
    rng = np.random.default_rng(5)
    pick = rng.integers(0, 300, 5000)
    length = rng.integers(1, 40, 300)[pick]
    h0 = (rng.integers(0, 2**31, 300) * 7)[pick]
    h1 = rng.integers(0, 2**31, 300)[pick]

    def groups(o: Any, new: Any) -> set[frozenset[int]]:
        bounds = [*np.flatnonzero(new).tolist(), len(o)]
        return {frozenset(o[a:b].tolist()) for a, b in pairwise(bounds)}

    clash = h1.copy()
    clash[pick == pick[0]] = np.where(np.arange(5000) % 2 == 0, h1, h1 + 1)[pick == pick[0]]
    wide = h0.copy()
    wide[0] = 2**62
    for a, b, c in ((length, h0, h1), (length, h0, clash), (length, wide, h1)):
        mine: dict[tuple[int, int, int], set[int]] = {}
        for i, k in enumerate(zip(a.tolist(), b.tolist(), c.tolist(), strict=True)):
            mine.setdefault(k, set()).add(i)
        assert groups(*on_numpy_variants._adjacent(a, b, c)) == {frozenset(v)
                                                                  for v in mine.values()}


def test_positions_and_case_numbers_in_32_or_64_bits_are_the_arange_forms() -> None:
    """``on_numpy_groups.positions`` (one running sum) gives ``arange - starts[case] + 1`` in
    either width; 32 bits are taken only while every index fits; sums of 32-bit values that
    take the radix-sort path are summed in 64 bits (no wrap at 2³¹: NumPy's ``add.reduceat``
    widens them, as ``add.reduce`` does)."""
    rng = np.random.default_rng(11)
    n = 5_000
    new = rng.random(n) < 0.2
    new[0] = True
    starts = np.flatnonzero(new)
    case = np.cumsum(new) - 1
    expected = np.arange(n) - starts[case] + 1
    for dtype in (np.int32, np.int64):
        pos = on_numpy_groups.positions(starts, n, dtype)
        assert pos.dtype == dtype
        assert pos.tolist() == expected.tolist()
    single = on_numpy_groups.positions(np.array([0]), 4, np.int32)   # one case, no reset
    assert single.tolist() == [1, 2, 3, 4]
    assert on_numpy_groups.index_type(2**31 - 1) is np.int32
    assert on_numpy_groups.index_type(2**31) is np.int64
    case32 = np.array([0, 2**30, 2**31 - 1], np.int32)   # (case, activity) keys past 2³¹
    assert on_numpy._pair_keys(case32, np.array([1, 2, 3]), 1000).tolist() == [
        1, 2**30 * 1000 + 2, (2**31 - 1) * 1000 + 3]
    near = np.full(4, 2**31 - 1, np.int32)
    near[0] = -1   # a negative value: not bincount's, the sorted runs'
    assert on_numpy._sums(np.zeros(4, np.int64), near, 1).tolist() == [3 * (2**31 - 1) - 1]


@pytest.mark.parametrize("acts", [1, 8, 181, 182, 400])
def test_the_pairs_and_their_sources_from_one_sort_equal_grouping_each_apart(acts: int) -> None:
    """``on_numpy_groups.follows``: the pairs (``src × acts + dst``) and the sources grouped
    from one radix sort equal each grouped apart (and plain Python); from 182 activities
    the pair keys pass 2¹⁵ and each is grouped apart."""
    rng = np.random.default_rng(acts)
    n = 6_000
    src = rng.integers(0, acts, n).astype(np.int64)
    dst = rng.integers(0, acts, n).astype(np.int64)
    src[:3], dst[:3] = acts - 1, acts - 1   # the greatest pair key present
    us = rng.integers(0, 10**6, n).astype(np.int64) * rng.integers(1, 3, n)
    pairs, sources = on_numpy_groups.follows(src, dst, us, acts)

    def rows(g: on_numpy_groups.Groups) -> list[tuple[Any, ...]]:
        return list(zip(g.keys.tolist(), g.count.tolist(), g.total.tolist(), g.lo.tolist(),
                        g.hi.tolist(), g.median, strict=True))

    assert rows(pairs) == plain_groups(src * acts + dst, us)
    assert rows(sources) == plain_groups(src, us)
    empty = np.zeros(0, np.int64)
    assert [rows(g) for g in on_numpy_groups.follows(empty, empty, empty, acts)] == [[], []]


def test_both_variant_hashes_by_one_flat_index_are_each_looked_up_alone() -> None:
    """``on_numpy_variants.variant_hashes``: the two hashes by one flat index into their
    tables (or computed per event when a table would outgrow the events) equal
    :func:`variant_hash` of each, from 32-bit positions too."""
    rng = np.random.default_rng(4)
    code = rng.integers(0, 8, 1000).astype(np.int64)
    pos = rng.integers(1, 30, 1000).astype(np.int32)
    for p in (pos, np.append(pos[:-1], 10**5).astype(np.int32)):   # a table, then none
        both_ = on_numpy_variants.variant_hashes(code, p)
        for i in (0, 1):
            alone = on_numpy_variants.variant_hash(code, p.astype(np.int64), i)
            assert both_[i].tolist() == alone.tolist()


def test_the_file_row_is_fetched_only_for_a_tie_in_case_time_and_order() -> None:
    """The file row breaks ties of (case, time, order) alone: without one it is never asked
    for; with one, it is, and a missing (NULL) row at a tie sends the log to the SQL, which
    orders by it."""
    def never() -> Any:
        raise AssertionError("the file row was asked for")

    # in time order, the order column numbering the rows: no tie in (case, time, order)
    con = state_log(9, cases=300, in_time_order=True, seconds=True)
    con.execute("CREATE TABLE e AS SELECT * EXCLUDE (seq), row_number() OVER () AS seq "
                "FROM events").fetchall()
    cols = con.execute("SELECT hash(case_id) AS h, epoch_us(timestamp) AS t, seq AS s "
                       "FROM e").fetchnumpy()
    h, t, s = cols["h"], cols["t"], cols["s"]
    hashes = np.unique(h)
    assert np.array_equal(on_numpy._case_order(h, t, s, never, hashes).order,
                          np.lexsort((s, t, h)))
    o = np.lexsort((s, t, h))   # and already in case order
    assert on_numpy._case_order(h[o], t[o], s[o], never, hashes).order == slice(None)

    tied = state_log(3)   # ties in (case, time, order), broken by the row
    both(tied.table("events"))
    tied.execute("UPDATE events SET _row = NULL WHERE _row % 2 = 0").fetchall()
    rel = tied.table("events")
    assert on_numpy.aggregates(rel, q.shape(rel), [], False, 10) is None
    assert json.dumps(discover_relation(rel, arrays=True).to_json()) == json.dumps(
        discover_relation(rel, arrays=False).to_json())


def test_a_window_s_rows_and_their_file_rows_come_from_one_scan() -> None:
    """A window's output (a check's recent cases: ``streams/package.recent_cases``) comes in
    another order at each scan, so the file row, which breaks ties of (case, time, order),
    is fetched by the scan of the other columns: the SQL's Discovery. (Session 21 fetched it
    by a second scan, which put the ties of this log in another order: helper D, session 22;
    smaller windows came in one order.)"""
    con = connect()
    con.execute("CREATE TABLE events AS SELECT 'c' || (hash(i) % 100000) AS case_id, ['New', "
                "'Active', 'Awaiting User', 'Review', 'Closed'][CAST(hash(i * 3) % 5 AS BIGINT) "
                "+ 1] AS activity, TIMESTAMP '2026-03-02' + INTERVAL (CAST(hash(i * 7) % 200 "
                "AS BIGINT)) MINUTE AS timestamp, 0 AS seq, i + 1 AS _row "
                "FROM range(1000000) t(i)").fetchall()
    rel = con.sql("SELECT * EXCLUDE (f) FROM (SELECT *, min(timestamp) OVER (PARTITION BY "
                  "case_id) AS f FROM events) WHERE f >= TIMESTAMP '2026-03-02'")
    assert on_numpy.aggregates(rel, q.shape(rel), [], False, 10) is not None   # NumPy's path
    sql = json.dumps(discover_relation(rel, arrays=False).to_json())
    for _ in range(3):   # each scan's order is the window's chance: a second scan's often differs
        assert json.dumps(discover_relation(rel, arrays=True).to_json()) == sql
