"""Discovery on DuckDB is SQL (engine/discovery_sql.py); the Narwhals formulation stays for
Spark. The two must give the same Discovery on every kind of log — state and lifecycle
readings, collapsed audit trails, waiting states, rework, resources with gaps, services, a
process filter — and the SQL one must stay a fixed handful of engine queries."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import narwhals as nw
import pytest

from dipstick.engine.spark import differences
from dipstick.engine.sql import connect
from dipstick.streams.discover import discover, discover_portable
from dipstick.streams.logs import LogMapping, read_event_log

from realdata import SERVICENOW_LOG, require

T0 = datetime(2026, 3, 2, 9, 0)
STATES = ["New", "Triage", "In Progress", "Awaiting User", "Pending Vendor", "Review",
          "Resolved", "Closed"]


def random_log(seed: int, lifecycle: bool, cases: int = 60,
               states: list[str] = STATES) -> duckdb.DuckDBPyConnection:
    """A canonical events table with ties, repeats, waiting states, resources (some unknown),
    services and two processes; with ``lifecycle``, starts and completes, some unpaired."""
    rng = random.Random(seed)
    rows: list[tuple[Any, ...]] = []
    for c in range(cases):
        t = T0 + timedelta(hours=rng.randint(0, 24 * 40))
        process = rng.choice(["incident", "request"])
        for _ in range(rng.randint(1, 9)):
            act = rng.choice(states)
            t += timedelta(minutes=rng.choice([0, 0, 5, 30, 240, 1440]))
            res = rng.choice([None, "ana", "bo", "cy"])
            svc = rng.choice([None, "crm", "erp"])
            if lifecycle and rng.random() < 0.8:
                rows.append((f"C{c:03}", act, t, "start", res, process, svc))
                t += timedelta(minutes=rng.choice([0, 10, 90]))
            if not lifecycle or rng.random() < 0.9:
                rows.append((f"C{c:03}", act, t, "complete" if lifecycle else None, res,
                             process, svc))
    con = connect()
    con.execute("CREATE TABLE events (case_id VARCHAR, activity VARCHAR, timestamp TIMESTAMP, "
                "lifecycle VARCHAR, resource VARCHAR, process VARCHAR, service VARCHAR, "
                "seq BIGINT, _row BIGINT)").fetchall()
    con.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [(*r, i % 7, i) for i, r in enumerate(rows, 1)])
    return con


def same(events: nw.LazyFrame[Any], **kw: Any) -> None:
    fast, portable = discover(events, **kw), discover_portable(events, **kw)
    assert fast.cases > 0
    assert not differences(fast.to_json(), portable.to_json())
    assert not differences(fast.stream("s", "s").to_json(), portable.stream("s", "s").to_json())


@pytest.mark.parametrize("lifecycle", [False, True])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_sql_equals_the_portable_discovery_on_random_logs(seed: int, lifecycle: bool) -> None:
    con = random_log(seed, lifecycle)
    events = nw.from_native(con.table("events"))
    same(events, top_variants=5)
    same(events, process="request", waiting=("review",), top_variants=100)
    if not lifecycle:
        same(events, collapse=True)
    # a table as a package gives it: no resource, no service, no file row
    bare = nw.from_native(con.table("events").select("case_id, activity, timestamp, seq"
                                                     + (", lifecycle" if lifecycle else "")))
    same(bare)


def test_more_activities_than_the_repeat_bit_set_holds() -> None:
    """Over 64 activities a repeat is told by a second partitioning instead of a bit set."""
    many = [*STATES, *(f"Step {i}" for i in range(70))]
    con = random_log(5, lifecycle=False, cases=200, states=many)
    events = nw.from_native(con.table("events"))
    assert len(discover(events).activities) > 64
    same(events)
    same(events, collapse=True)


def test_sql_equals_the_portable_discovery_on_the_real_log() -> None:
    log = require(SERVICENOW_LOG)
    con = connect()
    read_event_log(con, log, LogMapping(case_id="number", activity="incident_state",
                                        timestamp="sys_updated_at", seq="sys_mod_count",
                                        resource="assigned_to",
                                        timestamp_format="%d/%m/%Y %H:%M"))
    events = nw.from_native(con.table("events"))
    same(events)
    same(events, collapse=True, top_variants=50)


def test_discover_is_a_fixed_handful_of_queries() -> None:
    """Counted by DuckDB's own query log, not timed: the shape, the visits table, the
    aggregates and the drop — however many activities and cases (the relation API's own
    bookkeeping around each, a temporary view and a result wrapper, left out)."""
    con = random_log(4, lifecycle=False, cases=5)
    con.execute("CALL enable_logging('QueryLog')").fetchall()
    found = discover(nw.from_native(con.table("events")))
    queries = [m for (m,) in con.execute("SELECT message FROM duckdb_logs WHERE type = "
                                         "'QueryLog'").fetchall()
               if not m.startswith(('CREATE TEMPORARY VIEW "_e"', 'DROP VIEW IF EXISTS "_e"',
                                    'SELECT * FROM "__duckdb_source'))]
    assert found.cases == 5
    assert len(queries) == 4, queries


# The streams command as the `dipstick` script runs it: every command module is registered at
# start-up (issue 16 item 1 made them import their core on run), so what this guards is the
# streams path's whole import list; benchmarks/discovery_e2e.py times the same.
_STREAMS_ONLY = """import json, os, sys
from dipstick.cli import app
sys.argv[0] = "dipstick"
try:
    app()
finally:
    heavy = os.environ["HEAVY"].split(",")
    found = sorted(m for m in sys.modules if m in heavy or m.split(".")[0] in heavy)
    print(json.dumps(found), file=sys.stderr)
"""
HEAVY = ("sqlalchemy", "alembic", "fastapi", "plotly", "pandas", "pyarrow", "narwhals", "numpy",
         "jinja2", "dipstick.store", "dipstick.check")


def test_the_streams_command_on_a_log_file_imports_only_what_it_runs(tmp_path: Path) -> None:
    con = random_log(6, lifecycle=False, cases=20)
    log = tmp_path / "log.csv"
    con.execute(f"COPY (SELECT case_id, activity, timestamp, seq FROM events) TO '{log}' "
                "(HEADER)").fetchall()
    r = subprocess.run([sys.executable, "-c", _STREAMS_ONLY, "streams", str(log), "--format",
                        "json", "--order", "seq"], capture_output=True, text=True, timeout=120,
                       env={**os.environ, "HEAVY": ",".join(HEAVY)})
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)[0]["discovery"]["cases"] == 20
    assert json.loads(r.stderr.strip().splitlines()[-1]) == []


def test_a_large_log_takes_numpy_without_its_masked_arrays_or_pydantic(tmp_path: Path) -> None:
    """From ARRAYS_FROM events NumPy computes the aggregates; NULLs are told by the arrays'
    type, so numpy.ma is not imported, and the command's options need no pydantic (cli/lazy.py):
    10-25 and ~90 ms CPU of the whole command (docs/benchmarks.md, session 14)."""
    from dipstick.streams.on_duckdb import ARRAYS_FROM

    log = tmp_path / "log.csv"
    duckdb.execute(f"COPY (SELECT 'c' || (i // 5) AS case_id, ['New', 'Active', 'Awaiting User', "
                   "'Active', 'Closed'][i % 5 + 1] AS activity, TIMESTAMP '2026-03-02 09:00' + "
                   f"INTERVAL (i * 7) MINUTE AS timestamp FROM range({ARRAYS_FROM + 5}) t(i)) "
                   f"TO '{log}' (HEADER)").fetchall()
    r = subprocess.run([sys.executable, "-c", _STREAMS_ONLY, "streams", str(log), "--format",
                        "json"], capture_output=True, text=True, timeout=120,
                       env={**os.environ, "HEAVY": "numpy,pydantic"})
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)[0]["discovery"]["events"] == ARRAYS_FROM + 5
    found = json.loads(r.stderr.strip().splitlines()[-1])
    assert "numpy" in found and "numpy.ma" not in found
    assert not [m for m in found if m.split(".")[0] == "pydantic"]
