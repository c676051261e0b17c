"""Discovery on Spark is Spark SQL (engine/discovery_spark.py), DuckDB's statement twinned: on
the same events it must find what DuckDB's SQL finds (itself held equal to the portable
Narwhals formulation by test_discovery_sql) — state and lifecycle logs, ties, repeats, waiting
states, unpaired starts, cases of one event, NULL resources and services, a process filter, an
empty window, more activities than DuckDB's repeat bit set holds — and it must run as a couple
of Spark SQL statements, not the portable path's dozen queries.

Real Spark in local mode (the session-scoped ``spark`` fixture, shared with test_spark)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import duckdb
import narwhals as nw
import pytest

from dipstick.engine.spark import differences
from dipstick.streams.discover import discover

from test_discovery_sql import STATES, T0, random_log

pytestmark = pytest.mark.spark


def _both(con: duckdb.DuckDBPyConnection, spark: Any, table: str = "events",
          **kw: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """The discovery of one table on DuckDB and on Spark (the same rows, through Arrow)."""
    rel = con.table(table)
    frame = spark.createDataFrame(rel.to_arrow_table())
    return (discover(nw.from_native(rel), **kw).to_json(),
            discover(nw.from_native(frame), **kw).to_json())


def _same(con: duckdb.DuckDBPyConnection, spark: Any, table: str = "events",
          **kw: Any) -> dict[str, Any]:
    on_duckdb, on_spark = _both(con, spark, table, **kw)
    assert not differences(on_duckdb, on_spark), differences(on_duckdb, on_spark)[:5]
    return on_duckdb


@pytest.mark.parametrize("lifecycle", [False, True])
def test_spark_sql_equals_duckdb_on_random_logs(spark: Any, lifecycle: bool) -> None:
    """Ties on (timestamp, seq) broken by the file row, repeats, waiting states, resources and
    services with gaps (NULL), one-event cases, unpaired starts, two processes."""
    con = random_log(7 if lifecycle else 8, lifecycle)
    found = _same(con, spark, top_variants=5)
    assert found["cases"] > 0 and found["handovers_per_case"] is not None
    assert any(a["rework_visits"] for a in found["activities"])
    assert any(a["waiting"] and a["wait_hours"] for a in found["activities"])
    if lifecycle:
        assert found["unpaired_starts"] > 0
    if lifecycle:
        _same(con, spark, process="request", waiting=("review",), top_variants=100)
    else:
        _same(con, spark, collapse=True)


def test_a_bare_log_and_an_empty_window(spark: Any) -> None:
    """No resource, service, lifecycle or file row (a package's table); no event of the
    process asked for: nothing found, as on DuckDB."""
    con = random_log(9, lifecycle=False, cases=30)
    con.execute("CREATE TABLE bare AS SELECT case_id, activity, timestamp, seq, process "
                "FROM events").fetchall()
    found = _same(con, spark, "bare")
    assert found["handovers_per_case"] is None and found["cases"] == 30
    empty = _same(con, spark, "bare", process="no such process")
    assert empty["cases"] == 0 and empty["events"] == 0


def test_single_events_and_a_start_without_its_complete(spark: Any) -> None:
    """Cases of one event, a case whose only event is a start (no visit at all), equal
    timestamps, a waiting state visited twice (parked, not redone), and a tie on (timestamp,
    seq) that only the file row breaks (stored against its order)."""
    con = duckdb.connect()
    con.execute("CREATE TABLE events (case_id VARCHAR, activity VARCHAR, timestamp TIMESTAMP, "
                "lifecycle VARCHAR, resource VARCHAR, seq BIGINT, _row BIGINT)").fetchall()
    t = T0
    rows = [("A", "Fix", t, "complete", None, 1),
            ("B", "Fix", t, "start", "ana", 1),
            ("C", "Fix", t, "start", "ana", 1), ("C", "Fix", t, "complete", "bo", 2),
            ("C", "Awaiting user", t, "complete", "bo", 3),
            ("C", "Fix", t + timedelta(hours=2), "start", "bo", 4),
            ("C", "Fix", t + timedelta(hours=3), "complete", None, 5),
            ("C", "Awaiting user", t + timedelta(hours=3), "complete", "cy", 6),
            ("C", "Awaiting user", t + timedelta(hours=4), "complete", "cy", 7),
            *(("D", a, t, "complete", None, 1) for a in ("New", "Triage", "Fix", "Review"))]
    # D's four events tie on (timestamp, seq): their file rows (3, 1, 4, 2) say Triage, Review,
    # New, Fix — neither the order they are stored in nor its reverse
    con.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [(*r, n) for r, n in zip(rows, [*range(10, 19), 3, 1, 4, 2], strict=True)])
    found = _same(con, spark)
    assert found["cases"] == 3 and found["unpaired_starts"] == 1
    assert found["start_activities"] == {"Fix": 2, "Triage": 1}


def test_more_activities_than_duckdbs_repeat_bit_set(spark: Any) -> None:
    """Spark tells a repeat one way for any number of activities; DuckDB switches past 64."""
    many = [*STATES, *(f"Step {i}" for i in range(70))]
    con = random_log(5, lifecycle=False, cases=120, states=many)
    assert len(_same(con, spark)["activities"]) > 64


def _statements(spark: Any) -> int:
    """SQL executions Spark has recorded so far (its own status store: each collected query,
    its scalar subqueries inside it)."""
    return int(spark._jsparkSession.sharedState().statusStore().executionsCount())


def test_discovery_on_spark_is_a_few_statements(spark: Any) -> None:
    """The events' view, the shape and the aggregates — whatever the log's size — where the
    portable Narwhals path ran a dozen queries. (Its equality with that path is the random
    logs' above, through DuckDB, which the portable path equals in test_discovery_sql: the
    portable path itself no longer runs on Spark, and ran ~30 s here.)"""
    con = random_log(3, lifecycle=True, cases=40)
    frame = spark.createDataFrame(con.table("events").to_arrow_table())
    before = _statements(spark)
    discover(nw.from_native(frame)).to_json()
    assert _statements(spark) - before <= 3
