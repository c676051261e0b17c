"""Handovers and services on the NumPy path (streams/on_numpy_people.py) must be exactly the
SQL's (engine/discovery_sql.py): handovers per case among the events with a resource, in
(time, order, row) order before any collapse; services per (activity, service) over the visits.
On hand-made logs with NULL resources at a case's start, middle and end, one resource all
along, texts that differ only in case, a space or emptiness, ties in time broken by the order
and the row, collapse on and off, a service on some events only and activities with several,
and on random logs."""

from __future__ import annotations

import json
import random
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import duckdb
import numpy as np
import pytest

from dipstick.engine import discovery_sql as q
from dipstick.engine.sql import connect
from dipstick.streams import on_numpy, on_numpy_people
from dipstick.streams.logs import LogMapping, read_event_log
from dipstick.streams.on_duckdb import discover_relation

from realdata import SERVICENOW_LOG, require

T0 = datetime(2026, 3, 2, 9, 0)
COLUMNS = ("case_id VARCHAR, activity VARCHAR, timestamp TIMESTAMP, seq BIGINT, _row BIGINT, "
           "resource VARCHAR, service VARCHAR")


def table(rows: list[tuple[Any, ...]], shuffle: int | None = 1) -> duckdb.DuckDBPyRelation:
    """The events (case, activity, minute, order, resource, service), numbered by file row in
    the given order, then stored shuffled (``shuffle``: the seed) or as given."""
    numbered = [(c, a, T0 + timedelta(minutes=m), s, i, r, v)
                for i, (c, a, m, s, r, v) in enumerate(rows, 1)]
    if shuffle is not None:
        random.Random(shuffle).shuffle(numbered)
    return insert(connect(), numbered).table("events")


def insert(con: duckdb.DuckDBPyConnection, rows: list[tuple[Any, ...]],
           columns: str = COLUMNS) -> duckdb.DuckDBPyConnection:
    """The rows as the table ``events`` of ``columns``: one list parameter per column,
    unnested side by side (``executemany`` takes a second for 2,000 rows)."""
    cols = [c.split() for c in columns.split(", ")]
    select = ", ".join(f"unnest(CAST(${i + 1} AS {t}[])) AS {n}" for i, (n, t) in enumerate(cols))
    con.execute(f"CREATE TABLE events AS SELECT {select}",
                [list(c) for c in zip(*rows, strict=True)]).fetchall()
    return con


def same(rel: duckdb.DuckDBPyRelation, collapse: bool = False, process: str | None = None,
         handovers: dict[str, Any] | None = None) -> dict[str, Any]:
    """The NumPy aggregates ran and their handovers and services are the SQL's (services as a
    set: the SQL's list comes in no order), and so is the whole Discovery; the handovers are
    also ``handovers`` when given. Returns the NumPy aggregates."""
    rel = q.only_process(rel, process)
    log = q.shape(rel)
    assert on_numpy.applies(log)
    fast = on_numpy.aggregates(rel, log, [], collapse, 10)
    assert fast is not None
    sql = q.aggregates(rel, log, [], collapse, 10)
    assert fast["handovers"] == sql["handovers"]
    if handovers is not None:
        assert fast["handovers"] == handovers
    key = lambda x: (x["activity"], x["service"], x["n"])  # noqa: E731
    assert sorted(fast["services"] or (), key=key) == sorted(sql["services"] or (), key=key)
    assert (fast["services"] is None) is (sql["services"] is None)
    a = discover_relation(rel, arrays=True, collapse=collapse)
    b = discover_relation(rel, arrays=False, collapse=collapse)
    assert json.dumps(a.to_json()) == json.dumps(b.to_json())
    return fast


# (case, activity, minute, order, resource, service)
HAND_MADE = [
    # NULL at the start, in the middle and at the end; ana → bo → ana: two handovers
    ("A", "New", 0, 0, None, None), ("A", "Triage", 5, 1, "ana", "desk"),
    ("A", "Triage", 6, 2, "ana", None), ("A", "Work", 9, 3, None, "desk"),
    ("A", "Work", 12, 4, "bo", "net"), ("A", "Review", 15, 5, "ana", None),
    ("A", "Closed", 20, 6, None, None),
    # no resource at all: not known
    ("B", "New", 0, 0, None, "desk"), ("B", "Closed", 30, 1, None, None),
    # one resource all along: known, no handover
    ("C", "New", 1, 0, "cy", "desk"), ("C", "Work", 2, 1, "cy", "net"),
    ("C", "Work", 3, 2, "cy", "net"), ("C", "Closed", 4, 3, "cy", None),
    # texts told apart only by case, a trailing space, emptiness: three handovers
    ("D", "New", 0, 0, "ana", None), ("D", "Work", 1, 1, "Ana", None),
    ("D", "Work", 2, 2, "Ana ", "net"), ("D", "Closed", 3, 3, "", "desk"),
    # one time for all: the order decides (given out of file order), ana bo bo: one handover
    ("E", "New", 7, 2, "bo", None), ("E", "Work", 7, 0, "ana", "desk"),
    ("E", "Closed", 7, 1, "bo", "net"),
    # one time and one order: the file row decides, bo ana ana bo: two handovers
    ("F", "New", 7, 0, "bo", None), ("F", "Work", 7, 0, "ana", None),
    ("F", "Work", 7, 0, "ana", "desk"), ("F", "Closed", 7, 0, "bo", "net"),
    # one event with a resource: known, no handover
    ("G", "New", 0, 0, "eve", "net"), ("G", "Closed", 5, 1, None, None),
]


@pytest.mark.parametrize("shuffle", [None, 1, 2])
def test_hand_made_handovers_and_services_are_the_sql_s(shuffle: int | None) -> None:
    rel = table(HAND_MADE, shuffle)
    expected = {"total": 2 + 3 + 1 + 2, "cases": 4, "known": 6}
    same(rel, handovers=expected)
    fast = same(rel, collapse=True, handovers=expected)   # handovers read events, not visits
    # codes in name order: Closed 1, New 2, Review 3, Triage 4, Work 5. Collapsed: A's second
    # Triage and Work (net), C's and D's second Work (net), F's second Work (desk) are gone
    assert {(x["activity"], x["service"]): x["n"] for x in fast["services"]} == {
        (4, "desk"): 1, (5, "desk"): 2, (2, "desk"): 2, (5, "net"): 1, (1, "desk"): 1,
        (1, "net"): 2, (2, "net"): 1}


def test_services_only_on_collapsed_events_are_none_like_the_sql_s() -> None:
    """The only service is on the second event of a run: collapsed, no visit has one."""
    rel = table([("A", "New", 0, 0, "ana", None), ("A", "New", 1, 1, "bo", "desk"),
                 ("A", "Closed", 2, 2, None, None)])
    assert same(rel)["services"] == [{"activity": 2, "service": "desk", "n": 1}]
    assert same(rel, collapse=True, handovers={"total": 1, "cases": 1, "known": 1})[
        "services"] is None


def random_rows(seed: int, cases: int = 300) -> list[tuple[Any, ...]]:
    """Cases of 1-12 events: whole minutes with many ties (broken by an order that ties too),
    repeats, resources from a small pool with NULLs, a service on some events only."""
    rng = random.Random(seed)
    acts = ["New", "Triage", "In Progress", "Awaiting User", "Review", "Closed"]
    people = [None, None, "ana", "bo", "cy", "Bo", ""]
    out = []
    for c in range(cases):
        m = rng.randint(0, 10_000)
        for _ in range(rng.randint(1, 12)):
            m += rng.choice([0, 0, 1, 30])
            out.append((f"C{c:04}", rng.choice(acts), m, rng.randint(0, 2),
                        rng.choice(people[:2] if c % 9 == 0 else people),
                        rng.choice([None, None, "desk", "net", "apps"])))
    return out


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_logs_give_the_sql_s_handovers_and_services(seed: int) -> None:
    rows = random_rows(seed)
    rel = table(rows, seed)
    hand = same(rel)["handovers"]
    assert hand["total"] > 0 and hand["known"] < len({r[0] for r in rows})   # both kinds
    same(rel, collapse=True)


def test_a_process_whose_events_name_no_resource_is_as_the_sql_s() -> None:
    """Filtered to a process without resources the column is dropped (``shape``): handovers
    not known, on both paths; the other process has them."""
    rows = random_rows(4, cases=60)
    rel = insert(connect(), [(c, a, T0 + timedelta(minutes=m), s, i, None if c < "C0030" else r,
                              v, "incident" if c < "C0030" else "request")
                             for i, (c, a, m, s, r, v) in enumerate(rows, 1)],
                 f"{COLUMNS}, process VARCHAR").table("events")
    assert same(rel, process="incident")["handovers"] is None
    assert same(rel, process="request")["handovers"] is not None


def test_a_resource_that_is_not_text_goes_to_the_sql() -> None:
    """Hashes tell texts apart; another type is left to the SQL's comparison."""
    con = connect()
    con.execute("CREATE TABLE events AS SELECT 'c' || (i % 5) AS case_id, 'New' AS activity, "
                "TIMESTAMP '2026-03-02 09:00' + INTERVAL (i) MINUTE AS timestamp, i AS seq, "
                "i % 3 AS resource FROM range(40) t(i)").fetchall()
    rel = con.table("events")
    assert on_numpy.aggregates(rel, q.shape(rel), [], False, 10) is None
    a, b = discover_relation(rel, arrays=True), discover_relation(rel, arrays=False)
    assert a.to_json() == b.to_json() and a.handovers_per_case is not None


def test_two_values_with_one_hash_are_a_clash() -> None:
    assert on_numpy_people._clash(np.array([5, 3, 9, 3], np.uint64))
    assert not on_numpy_people._clash(np.array([5, 3, 9], np.uint64))
    assert not on_numpy_people._clash(np.zeros(0, np.uint64))


def test_services_counted_per_pair_by_bincount_or_unique_are_plain_counts() -> None:
    """Few (activity, service) slots are counted in a table, many (here 3,000 activities ×
    2,000 services, a NULL among them) by ``unique``: both are a plain count."""
    rng = np.random.default_rng(5)
    for acts, n in ((6, 4), (3_000, 2_000)):
        hashes = np.unique(rng.integers(0, 2**64 - 1, n, dtype=np.uint64))   # sorted
        names: list[str | None] = [f"s{i}" for i in range(n)]
        names[3] = None
        p = on_numpy_people.People("", None, hashes, tuple(names))
        code = rng.integers(0, acts, 5_000)
        srv = hashes[rng.integers(0, n, 5_000)]
        found = on_numpy_people.services(srv, code, acts, p)
        assert found is not None
        plain = Counter((int(c) + 1, names[int(np.searchsorted(hashes, s))])
                        for c, s in zip(code, srv, strict=True))
        assert {(x["activity"], x["service"]): x["n"] for x in found} == {
            k: v for k, v in plain.items() if k[1] is not None}


def test_the_real_log_with_its_assignee_and_group_is_the_sql_s() -> None:
    """The ServiceNow log with ``assigned_to`` as the resource and ``assignment_group`` as the
    service: hundreds of values, ``?`` (missing) at a case's start and middle."""
    log = require(SERVICENOW_LOG)
    con = connect()
    read_event_log(con, log, LogMapping(case_id="number", activity="incident_state",
                                        timestamp="sys_updated_at", seq="sys_mod_count",
                                        timestamp_format="%d/%m/%Y %H:%M",
                                        resource="assigned_to", service="assignment_group"))
    rel = con.table("events")
    hand = same(rel)["handovers"]
    cases = rel.query("_e", "SELECT count(DISTINCT case_id) FROM _e").fetchall()[0][0]
    assert hand["total"] > 0 and 0 < hand["known"] < cases
    same(rel, collapse=True)
