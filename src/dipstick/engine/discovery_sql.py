"""Process discovery on DuckDB as plain SQL: one visits table, materialised once, and one query
over it that returns every aggregate the stream map needs.

The Narwhals formulation (:mod:`dipstick.streams.visits`, :mod:`dipstick.streams.discover`)
stays the portable one (Spark); this is its DuckDB twin, because a dozen lazy queries each paid
~20–60 ms of planning and the visits were rebuilt by two window partitionings where one sort and
one partitioned ``min`` do. Same definitions, column for column; tests hold the two equal
(docs/decisions.md, "Discovery on DuckDB is SQL").
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import duckdb

from dipstick.engine.sql import ident, literal

THROUGHPUT_QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9, 0.95)


@dataclass(frozen=True)
class LogShape:
    """What the first look at a log finds: its activities, events and lifecycle starts."""

    activities: tuple[str, ...]
    events: int
    starts: int
    columns: tuple[str, ...]

    @property
    def lifecycle(self) -> bool:
        return self.starts > 0


def only_process(rel: duckdb.DuckDBPyRelation, process: str | None) -> duckdb.DuckDBPyRelation:
    """The events of one process (all when None or the log names none)."""
    if process is None or "process" not in rel.columns:
        return rel
    return rel.filter(f"process = {literal(process)}")


def shape(rel: duckdb.DuckDBPyRelation) -> LogShape:
    """One grouped scan: the distinct activities (to tell the waiting ones), the number of
    events and of ``start`` events (lifecycle or state reading)."""
    cols = tuple(rel.columns)
    starts = ("count(*) FILTER (WHERE lifecycle = 'start')" if "lifecycle" in cols else "0")
    rows = _rows(rel, f"SELECT activity, count(*), {starts} FROM _e GROUP BY activity")
    return LogShape(tuple(sorted(str(r[0]) for r in rows)), sum(int(r[1]) for r in rows),
                    sum(int(r[2]) for r in rows), cols)


def aggregates(rel: duckdb.DuckDBPyRelation, log: LogShape, wait_names: Sequence[str],
               collapse: bool, top: int) -> dict[str, Any]:
    """Every aggregate of a discovery, as plain Python values (see :func:`_SELECT`)."""
    name = f"_visits_{uuid.uuid4().hex[:12]}"
    _rows(rel, f"CREATE TEMP TABLE {name} AS {_visits_sql(log, wait_names, collapse)}")
    try:
        sql = _aggregate_sql(name, log, top)
        rows = _rows(rel, sql)
    finally:
        _rows(rel, f"DROP TABLE IF EXISTS {name}")
    return dict(zip(_KEYS, rows[0], strict=True))


def _rows(rel: duckdb.DuckDBPyRelation, sql: str) -> list[tuple[Any, ...]]:
    """Run SQL on the relation's own connection with the relation as ``_e``, drained (DuckDB
    refuses new work while a result is unread)."""
    res = rel.query("_e", sql)
    return [] if res is None else res.fetchall()


def _in(names: Sequence[str]) -> str:
    """``activity IN (…)`` for a fixed list of names (FALSE for none)."""
    return f"IN ({', '.join(literal(n) for n in names)})" if names else "IS NULL AND FALSE"


def _visits_sql(log: LogShape, wait_names: Sequence[str], collapse: bool) -> str:
    """One row per activity visit, in the definitions of :func:`dipstick.streams.visits.timed`:
    start, end, position in the case, the next visit, the time to it, work, wait and rework."""
    cols = log.columns
    row = ", _row AS _r" if "_row" in cols else ""
    tie = ", _r" if "_row" in cols else ""
    service = ", service" if "service" in cols else ""
    if log.lifecycle:
        per_act = f"PARTITION BY case_id, activity ORDER BY ts, seq{tie}"
        ev = (f"ev0 AS (SELECT case_id, activity, timestamp AS ts, seq{row}{service}, lifecycle "
              "FROM _e), "
              f"st AS (SELECT case_id, activity, ts AS start, row_number() OVER ({per_act}) AS k "
              "FROM ev0 WHERE lifecycle = 'start'), "
              f"en AS (SELECT *, row_number() OVER ({per_act}) AS k FROM ev0 "
              "WHERE lifecycle <> 'start' OR lifecycle IS NULL), "
              f"ev AS (SELECT en.case_id, en.activity, en.ts AS \"end\", en.seq"
              f"{', en._r' if tie else ''}{', en.service' if service else ''}, "
              "st.start IS NOT NULL AS paired, CASE WHEN st.start IS NULL OR st.start > en.ts "
              "THEN en.ts ELSE st.start END AS start FROM en LEFT JOIN st "
              "ON en.case_id = st.case_id AND en.activity = st.activity AND en.k = st.k)")
    else:
        base = f"SELECT case_id, activity, timestamp AS \"end\", seq{row}{service}, " \
               "timestamp AS start FROM _e"
        if collapse:
            ev = (f"ev0 AS ({base}), ev AS (SELECT * EXCLUDE (_prev) FROM (SELECT *, "
                  f"lag(activity) OVER (PARTITION BY case_id ORDER BY \"end\", seq{tie}) AS _prev "
                  "FROM ev0) WHERE _prev IS NULL OR _prev <> activity)")
        else:
            ev = f"ev AS ({base})"
    secs = "(epoch_us({}) - epoch_us({})) / 1000000"
    nonneg = "CASE WHEN {0} < 0 THEN 0.0 ELSE {0} END"
    to_next = nonneg.format(secs.format("next_start", '"end"'))
    waiting = f"activity {_in(wait_names)}"
    if log.lifecycle:
        spent = secs.format('"end"', "start")
        gap = nonneg.format(secs.format("start", "prev_end"))
        wait = f"coalesce({gap}, 0.0) + CASE WHEN {waiting} THEN {spent} ELSE 0.0 END"
    else:
        spent = "coalesce(to_next_s, 0.0)"
        wait = f"CASE WHEN {waiting} THEN {spent} ELSE 0.0 END"
    work = f"CASE WHEN {waiting} THEN 0.0 ELSE {spent} END"
    rework = (f"(pos > min(pos) OVER (PARTITION BY case_id, activity) "
              f"AND NOT coalesce(prev_act {_in(wait_names)}, FALSE))")
    paired = ", paired" if log.lifecycle else ""
    return (f"WITH {ev}, "
            f"w AS (SELECT *, lead(activity) OVER w AS next_act, lead(start) OVER w AS next_start, "
            "row_number() OVER w AS pos, lag(activity) OVER w AS prev_act, "
            f"lag(\"end\") OVER w AS prev_end FROM ev "
            f"WINDOW w AS (PARTITION BY case_id ORDER BY \"end\", seq{tie})), "
            f"t AS (SELECT *, {to_next} AS to_next_s FROM w), "
            f"r AS (SELECT *, {secs.format(chr(34) + 'end' + chr(34), 'start')} AS process_s, "
            f"{work} AS work_s, {wait} AS wait_s, {rework} AS rework FROM t) "
            "SELECT case_id, activity, start, \"end\", pos, next_act, to_next_s, process_s, "
            "work_s, wait_s, rework, CASE WHEN rework THEN work_s ELSE 0.0 END AS rework_s"
            f"{paired}{service} FROM r")


_KEYS = ("head", "variants", "variant_count", "throughput", "activities", "case_activity",
         "services", "edges", "start_activities", "end_activities", "handovers")


def _aggregate_sql(v: str, log: LogShape, top: int) -> str:
    """One statement, one row: each aggregate a list of structs (or a struct)."""
    paired = "sum(paired::BIGINT)" if log.lifecycle else "0"
    qs = ", ".join(str(q) for q in THROUGHPUT_QUANTILES)
    services = ("(SELECT list(x) FROM (SELECT activity, service, count(*) AS n FROM v "
                "WHERE service IS NOT NULL GROUP BY ALL) x)" if "service" in log.columns
                else "NULL")
    if "resource" in log.columns:
        tie = ", _row" if "_row" in log.columns else ""
        handovers = (
            "(SELECT {'total': sum(h), 'cases': count(*) FILTER (WHERE h > 0), "
            "'known': count(*)} FROM (SELECT case_id, sum(CASE WHEN prev IS NOT NULL AND "
            "resource <> prev THEN 1 ELSE 0 END) AS h FROM (SELECT case_id, resource, "
            "lag(resource) OVER (PARTITION BY case_id ORDER BY timestamp, seq"
            f"{tie}) AS prev FROM _e WHERE resource IS NOT NULL) GROUP BY case_id))")
    else:
        handovers = "NULL"
    secs = "(epoch_us(last) - epoch_us(first)) / 1000000"
    return (
        f"WITH v AS (SELECT * FROM {ident(v)}), "
        "per_case AS (SELECT case_id, list(activity ORDER BY pos) AS key, min(start) AS first, "
        f"max(\"end\") AS last FROM v GROUP BY case_id), "
        f"tp AS (SELECT case_id, key, first, {secs} AS tp FROM per_case), "
        "var AS (SELECT key, count(*) AS cases, avg(tp) AS tp, min(case_id) AS rep FROM tp "
        "GROUP BY key) "
        "SELECT "
        "(SELECT {'n': count(*), 'cases': count(DISTINCT case_id), 'first': min(start), "
        f"'last': max(\"end\"), 'paired': {paired}}} FROM v), "
        f"(SELECT list(x) FROM (SELECT * FROM var ORDER BY cases DESC, rep LIMIT {int(top)}) x), "
        "(SELECT count(*) FROM var), "
        "(SELECT {'mean': avg(tp), 'max': max(tp), "
        f"'qs': quantile_cont(tp, [{qs}]), 'last_start': max(first)}} FROM tp), "
        "(SELECT list(x) FROM (SELECT activity, count(*) AS visits, "
        "count(DISTINCT case_id) AS cases, avg(process_s) AS process, avg(to_next_s) AS to_next, "
        "median(to_next_s) AS to_next_med, sum(work_s) AS work, sum(wait_s) AS wait, "
        "sum(wait_s * wait_s) AS wait_sq, sum(rework::BIGINT) AS rework_visits, "
        "sum(rework_s) AS rework_s FROM v GROUP BY activity) x), "
        "(SELECT list(x) FROM (SELECT activity, avg(first) AS \"order\", "
        "sum(rw::BIGINT) AS rework_cases FROM (SELECT case_id, activity, min(pos) AS first, "
        "max(rework) AS rw FROM v GROUP BY case_id, activity) GROUP BY activity) x), "
        f"{services}, "
        "(SELECT list(x) FROM (SELECT activity, next_act, count(*) AS n, avg(to_next_s) AS mean, "
        "median(to_next_s) AS median, min(to_next_s) AS lo, max(to_next_s) AS hi FROM v "
        "WHERE next_act IS NOT NULL GROUP BY ALL) x), "
        "(SELECT list(x) FROM (SELECT activity, count(*) AS n FROM v WHERE pos = 1 "
        "GROUP BY activity) x), "
        "(SELECT list(x) FROM (SELECT activity, count(*) AS n FROM v WHERE next_act IS NULL "
        "GROUP BY activity) x), "
        f"{handovers}")
