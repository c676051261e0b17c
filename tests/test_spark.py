"""The distributed engine: the same aggregations on Apache Spark give the same answers as on
DuckDB — the whole check of a package (every cause, shift detection, a discovered value stream),
through the CLI's ``--engine spark``, and process discovery on the real ServiceNow log.

Spark runs in local mode (Java 17+). Without PySpark or Java the tests skip, unless
``DIPSTICK_REQUIRE_SPARK=1`` (set by .ci/run) makes that a failure.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import narwhals as nw
import pytest
from typer.testing import CliRunner

from dipstick.cli import app as cli
from dipstick.engine import epoch_us, minutes_between
from dipstick.engine.spark import differences
from dipstick.streams.discover import discover
from dipstick.streams.logs import LogMapping, read_event_log

from builder import AS_OF, PackageBuilder
from realdata import SERVICENOW_LOG, require

pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def leaking(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Satisfaction stepping down (a shift with its since), surveys, KPIs, and an incident
    process discovered from an event log with a waiting state and rework."""
    b = PackageBuilder(tmp_path_factory.mktemp("spark") / "pkg")
    b.healthy().satisfaction_step("crm", days_ago=120, before=8.5, after=4.0)
    b.rows("changes", [{"id": "CHG7", "service": "crm", "kind": "release", "success": "true",
                        "communicated": "true",   # the episodes' query runs on Spark too
                        "date": (AS_OF - timedelta(days=120)).isoformat()}])
    start = datetime(2026, 8, 10, 9)    # cases that begin inside the current window
    rows = []
    for case in range(60):
        t = start + timedelta(hours=7 * case)
        steps = ["Register", "Triage", "Awaiting user", "Fix", "Close"]
        if case % 4 == 0:
            steps[3:3] = ["Fix", "Triage"]          # rework
        for i, act in enumerate(steps):
            rows.append({"case_id": f"C{case:03d}", "activity": act, "process": "incident",
                         "timestamp": (t + timedelta(minutes=37 * i * (1 + case % 3)))
                         .isoformat(), "resource": f"agent{(case + i) % 5}", "service": "crm"})
    b.rows("events", rows)
    b.set("value_streams", [{"id": "incident", "name": "Handle an incident",
                             "event_log": {"process": "incident"}}])
    return b.write()


def _check_json(package: Path, engine: str, database: Path) -> dict[str, Any]:
    r = CliRunner().invoke(cli, ["check", str(package), "--format", "json", "--engine", engine,
                                 "--database", f"sqlite:///{database}"])
    assert r.exit_code in (0, 1), (r.output, r.exception)
    assert r.exception is None or isinstance(r.exception, SystemExit), r.exception
    doc: dict[str, Any] = json.loads(r.stdout)
    return doc


def test_the_check_on_spark_equals_the_check_on_duckdb(spark: Any, leaking: Path,
                                                       tmp_path: Path) -> None:
    on_duckdb = _check_json(leaking, "duckdb", tmp_path / "a.db")
    on_spark = _check_json(leaking, "spark", tmp_path / "b.db")
    assert on_duckdb["summary"]["leak"] >= 1      # not a vacuous comparison of empty checks
    crm = next(s for s in on_duckdb["services"] if s["id"] == "crm")
    assert crm["since"] is not None
    assert [e["change"] for e in crm["episodes"] if e["change"]] == ["CHG7"]
    flow = crm["causes"]["flow"]
    assert flow["status"] != "unknown", flow         # the stream was discovered and measured
    assert not differences(on_duckdb, on_spark)


def test_discovery_on_spark_equals_duckdb_on_the_real_log(spark: Any) -> None:
    log = require(SERVICENOW_LOG)
    con = duckdb.connect()
    read_event_log(con, log, LogMapping(case_id="number", activity="incident_state",
                                        timestamp="sys_updated_at", seq="sys_mod_count",
                                        timestamp_format="%d/%m/%Y %H:%M"))
    # the first 1,500 incidents: enough variants and waiting states, quick on local Spark
    con.execute("CREATE TABLE sample AS SELECT * FROM events WHERE case_id IN "
                "(SELECT DISTINCT case_id FROM events ORDER BY case_id LIMIT 1500)")
    on_duckdb = discover(nw.from_native(con.table("sample")), collapse=True)
    frame = spark.createDataFrame(con.table("sample").to_arrow_table())
    on_spark = discover(nw.from_native(frame), collapse=True)
    assert on_duckdb.cases == 1500 and len(on_duckdb.edges) > 10
    assert not differences(on_duckdb.to_json(), on_spark.to_json())


# before 1970 with a fraction of a second (Spark's microsecond there is negative), the
# loaders' bounds, a leap day, a second short of a minute either way
STAMPS = [datetime(1900, 1, 1), datetime(1900, 1, 1, 0, 0, 0, 1),
          datetime(1969, 12, 31, 23, 59, 59, 999_999), datetime(1969, 12, 31, 23, 59, 58, 500_000),
          datetime(1969, 12, 31, 23, 59, 59), datetime(1970, 1, 1),
          datetime(1970, 1, 1, 0, 0, 0, 1),
          datetime(2024, 2, 29, 12, 34, 56, 789_012), datetime(2024, 3, 1, 0, 0, 59, 999_999),
          datetime(2200, 12, 31, 23, 59, 59, 999_999)]


def test_times_on_spark_are_microseconds_since_1970_before_1970_too(spark: Any) -> None:
    """``epoch_us`` on Spark: a ``timestamp`` column by its seconds and the microseconds past
    them (a few nodes, not the calendar parts' ~150 that Spark took a second to analyse in
    each query); a ``timestamp_ntz`` and a frame not given by the calendar parts. All the
    exact microseconds, and whole minutes truncated toward zero, before 1970 as after and over
    three centuries."""
    # each time and the next, the last and the first: 300 years back, beyond 2**53 µs, where
    # Spark's floor division through doubles lost the last minute
    rows = [(a, b, a) for a, b in zip(STAMPS, [*STAMPS[1:], STAMPS[0]], strict=True)]
    lf = nw.from_native(spark.createDataFrame(rows, "a timestamp, b timestamp, n timestamp_ntz"))
    got = lf.select(fast=epoch_us("a", lf), portable=epoch_us("a"), ntz=epoch_us("n", lf),
                    minutes=minutes_between("a", "b", lf)
                    ).collect(backend="pyarrow").to_native().to_pylist()
    us = [(a - datetime(1970, 1, 1)) // timedelta(microseconds=1) for a, _, _ in rows]
    assert [r["fast"] for r in got] == [r["portable"] for r in got] == us
    assert [r["ntz"] for r in got] == us
    spans = [(b - a) // timedelta(microseconds=1) for a, b, _ in rows]   # exact, no float
    assert [r["minutes"] for r in got] == [(abs(d) // 60_000_000) * (1 if d >= 0 else -1)
                                           for d in spans]
    plan = lf.select(x=epoch_us("a", lf)).to_native()._jdf.queryExecution().analyzed().toString()
    assert "year(" not in plan and "dayofyear(" not in plan, plan


def test_an_unknown_engine_is_a_usage_error(leaking: Path, tmp_path: Path) -> None:
    r = CliRunner().invoke(cli, ["check", str(leaking), "--engine", "hadoop", "--no-store"])
    assert r.exit_code == 2 and "unknown engine 'hadoop'" in r.output
