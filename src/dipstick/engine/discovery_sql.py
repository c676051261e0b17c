"""Process discovery on DuckDB as plain SQL: one visits table, materialised once, and one query
over it that returns every aggregate the stream map needs.

The Narwhals formulation (:mod:`dipstick.streams.visits`, :mod:`dipstick.streams.discover`)
stays the portable one (Spark); this is its DuckDB twin, because eighteen lazy queries each paid
~20–60 ms of planning whatever the log's size, and the visits needed two window partitionings
where one sort does. Same definitions, column for column; tests hold the two equal
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
# Variants are identified per case by its length and two sums of pseudo-random 31-bit values of
# (position, activity code): engine-portable (plain integer arithmetic, no string aggregation),
# and two different sequences share a key with probability ~2⁻⁶² per pair.
_P1, _P2 = 2_147_483_647, 2_147_483_629
VARIANT_HASH = ((1_000_003, 7_919, 12_345, _P1), (998_244_353 % _P2, 104_729, 54_321, _P2))


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
    events and of ``start`` events (lifecycle or state reading). A ``service`` or ``resource``
    column without a value is left out of ``columns``: the visits then carry one column less
    through their sort, and the answer is the same (no services; handovers not known)."""
    cols = tuple(rel.columns)
    starts = ("count(*) FILTER (WHERE lifecycle = 'start')" if "lifecycle" in cols else "0")
    optional = [c for c in ("service", "resource") if c in cols]
    counts = "".join(f", count({c})" for c in optional)
    rows = _rows(rel, f"SELECT activity, count(*), {starts}{counts} FROM _e GROUP BY activity")
    empty = {c for i, c in enumerate(optional) if not sum(int(r[3 + i]) for r in rows)}
    return LogShape(tuple(sorted(str(r[0]) for r in rows)), sum(int(r[1]) for r in rows),
                    sum(int(r[2]) for r in rows), tuple(c for c in cols if c not in empty))


def aggregates(rel: duckdb.DuckDBPyRelation, log: LogShape, wait_names: Sequence[str],
               collapse: bool, top: int) -> dict[str, Any]:
    """Every aggregate of a discovery, as plain Python values keyed by ``KEYS``: the visits
    table created, read by one query, dropped."""
    name = f"_visits_{uuid.uuid4().hex[:12]}"
    _rows(rel, f"CREATE TEMP TABLE {name} AS {_visits_sql(log, wait_names, collapse)}")
    try:
        sql = _aggregate_sql(name, log, top)
        rows = _rows(rel, sql)
    finally:
        _rows(rel, f"DROP TABLE IF EXISTS {name}")
    return dict(zip(KEYS, rows[0], strict=True))


def _rows(rel: duckdb.DuckDBPyRelation, sql: str) -> list[tuple[Any, ...]]:
    """Run SQL on the relation's own connection with the relation as ``_e``, drained (DuckDB
    refuses new work while a result is unread)."""
    res = rel.query("_e", sql)
    return [] if res is None else res.fetchall()


def _visits_sql(log: LogShape, wait_names: Sequence[str], collapse: bool) -> str:
    """One row per activity visit, in the definitions of :func:`dipstick.streams.visits.timed`:
    start, end, position in the case, the next visit, the time to it, work, wait, rework, and
    ``again`` (an earlier visit of the case went to the same activity) — from one sort of the
    visits by case and time: with up to 64 activities a running bit set of the activities
    already visited tells a repeat, where a second partitioning by (case, activity) cost as
    much again (measured: 1.1 of 1.8 s CPU on 1.27 M events)."""
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
        base = f"SELECT case_id, activity, timestamp AS \"end\", seq{row}{service} FROM _e"
        if collapse:
            ev = (f"ev0 AS ({base}), ev AS (SELECT * EXCLUDE (_prev) FROM (SELECT *, "
                  f"lag(activity) OVER (PARTITION BY case_id ORDER BY \"end\", seq{tie}) AS _prev "
                  "FROM ev0) WHERE _prev IS NULL OR _prev <> activity)")
        else:
            ev = f"ev AS ({base})"
    secs = "(epoch_us({}) - epoch_us({})) / 1000000"
    nonneg = "CASE WHEN {0} < 0 THEN 0.0 ELSE {0} END"
    to_next = nonneg.format(secs.format("next_start", '"end"'))
    # code: the activity's dense rank (1-based, in name order), as the portable variant key has
    # it; the window and the aggregates carry it instead of the name (integers sort, move and
    # group faster than text; on_duckdb maps codes back to names)
    enum = ", ".join(literal(a) for a in log.activities)
    code = (f"CAST(enum_code(CAST(activity AS ENUM({enum}))) AS BIGINT) + 1" if enum
            else "CAST(1 AS BIGINT)")
    codes = [i + 1 for i, a in enumerate(log.activities) if a in set(wait_names)]
    if len(log.activities) <= 64:   # a waiting activity and a repeat: bits of one integer
        mask = sum(1 << (c - 1) for c in codes)
        waiting = f"(({mask}::UBIGINT >> (code - 1)) & 1) = 1"
        prev_waiting = f"(({mask}::UBIGINT >> (prev_code - 1)) & 1) = 1"
        seen = (", bit_or(CAST(1 AS UBIGINT) << (code - 1)) OVER "
                "(w ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS _seen")
        again = "coalesce((_seen >> (code - 1)) & 1, 0) = 1"
    else:
        listed = f"CAST([{', '.join(map(str, codes))}] AS BIGINT[])"
        waiting = f"list_contains({listed}, code)"
        prev_waiting = f"list_contains({listed}, prev_code)"
        seen, again = "", "pos > min(pos) OVER (PARTITION BY case_id, code)"
    if log.lifecycle:
        spent = secs.format('"end"', "start")
        gap = nonneg.format(secs.format("start", "prev_end"))
        wait = f"coalesce({gap}, 0.0) + CASE WHEN {waiting} THEN {spent} ELSE 0.0 END"
    else:
        spent = "coalesce(to_next_s, 0.0)"
        wait = f"CASE WHEN {waiting} THEN {spent} ELSE 0.0 END"
    work = f"CASE WHEN {waiting} THEN 0.0 ELSE {spent} END"
    rework = f"(again AND NOT coalesce({prev_waiting}, FALSE))"
    paired = ", paired" if log.lifecycle else ""
    if log.lifecycle:   # a visit has its own start; the wait before it needs the previous end
        moves = ("lead(start) OVER w AS next_start, lag(\"end\") OVER w AS prev_end", "")
    else:               # a state starts when its event happens: start = end, one column less
        moves = ("lead(\"end\") OVER w AS next_start", ", \"end\" AS start")
    return (f"WITH {ev}, "
            f"w AS (SELECT *, lead(code) OVER w AS next_code, {moves[0]}, "
            f"row_number() OVER w AS pos, lag(code) OVER w AS prev_code{seen} "
            f"FROM (SELECT * EXCLUDE (activity), {code} AS code FROM ev) "
            f"WINDOW w AS (PARTITION BY case_id ORDER BY \"end\", seq{tie})), "
            f"t AS (SELECT *, {to_next} AS to_next_s, {again} AS again{moves[1]} FROM w), "
            f"r AS (SELECT *, {secs.format(chr(34) + 'end' + chr(34), 'start')} AS process_s, "
            f"{work} AS work_s, {wait} AS wait_s, {rework} AS rework FROM t) "
            "SELECT case_id, code, start, \"end\", pos, again, next_code, to_next_s, "
            "process_s, work_s, wait_s, rework, CASE WHEN rework THEN work_s ELSE 0.0 END AS "
            f"rework_s{paired}{service} FROM r")


KEYS = ("head", "variants", "sequences", "variant_count", "throughput", "activities",
         "rework_cases", "services", "edges", "start_activities", "end_activities", "handovers")


def handovers_per_case(source: str, log: LogShape) -> str:
    """Each case's handovers (``h``) among its events with a resource, in (time, order, row)
    order, before any collapse: the one definition, plain SQL that DuckDB and Spark both read
    (``discovery_spark`` wraps it in its own struct)."""
    tie = ", _row" if "_row" in log.columns else ""
    return ("SELECT case_id, sum(CASE WHEN prev IS NOT NULL AND resource <> prev THEN 1 "
            "ELSE 0 END) AS h FROM (SELECT case_id, resource, lag(resource) OVER (PARTITION BY "
            f"case_id ORDER BY timestamp, seq{tie}) AS prev FROM {source} "
            "WHERE resource IS NOT NULL) GROUP BY case_id")


def variant_hash(a: int, b: int, c: int, p: int) -> str:
    """The portable variant key's hash of (code, pos), as SQL (discover._hash's arithmetic;
    DuckDB's and Spark's: ``code`` and ``pos`` BIGINT)."""
    x = f"((code * {a} + pos * {b} + {c}) % {p})"
    y = f"(({x} * {x}) % {p})"
    return f"((((({y} + pos * 31) % {p}) * (({y} % 65521) + 1))) % {p})"


def _aggregate_sql(v: str, log: LogShape, top: int) -> str:
    """One statement, one row: each aggregate a list of structs (or a struct). Per activity,
    its cases are its first visits (``NOT again``) and its map order their mean position."""
    paired = "sum(paired::BIGINT)" if log.lifecycle else "0"
    qs = ", ".join(str(q) for q in THROUGHPUT_QUANTILES)
    services = ("(SELECT list(x) FROM (SELECT code AS activity, service, count(*) AS n FROM v "
                "WHERE service IS NOT NULL GROUP BY ALL) x)" if "service" in log.columns
                else "NULL")
    handovers = ("(SELECT {'total': sum(h), 'cases': count(*) FILTER (WHERE h > 0), "
                 f"'known': count(*)}} FROM ({handovers_per_case('_e', log)}))"
                 if "resource" in log.columns else "NULL")
    hashes = ", ".join(f"sum({variant_hash(*h)}) AS h{i}" for i, h in enumerate(VARIANT_HASH))
    keys = ", ".join(f"h{i}" for i in range(len(VARIANT_HASH)))
    tp = "(epoch_us(last) - epoch_us(first)) / 1000000"
    return (
        f"WITH v AS NOT MATERIALIZED (SELECT * FROM {ident(v)}), "
        f"per_case AS (SELECT case_id, count(*) AS n, {hashes}, min(start) AS first, "
        f"max(\"end\") AS last FROM v GROUP BY case_id), "
        f"tp AS MATERIALIZED (SELECT *, {tp} AS tp FROM per_case), "
        f"var AS MATERIALIZED (SELECT n, {keys}, count(*) AS cases, avg(tp) AS tp, "
        f"min(case_id) AS rep FROM tp GROUP BY n, {keys}), "
        f"top AS (SELECT cases, tp, rep FROM var ORDER BY cases DESC, rep LIMIT {int(top)}) "
        "SELECT "
        "(SELECT {'n': count(*), 'cases': count(*) FILTER (WHERE pos = 1), 'first': min(start), "
        f"'last': max(\"end\"), 'paired': {paired}}} FROM v), "
        "(SELECT list(top ORDER BY cases DESC, rep) FROM top), "
        "(SELECT list(x) FROM (SELECT case_id, list(code ORDER BY pos) AS acts FROM v "
        "WHERE case_id IN (SELECT rep FROM top) GROUP BY case_id) x), "
        "(SELECT count(*) FROM var), "
        "(SELECT {'mean': avg(tp), 'max': max(tp), "
        f"'qs': quantile_cont(tp, [{qs}]), 'last_start': max(first)}} FROM tp), "
        "(SELECT list(x) FROM (SELECT code AS activity, count(*) AS visits, "
        "count(*) FILTER (WHERE NOT again) AS cases, "
        "avg(pos) FILTER (WHERE NOT again) AS \"order\", "
        "avg(process_s) AS process, avg(to_next_s) AS to_next, "
        "median(to_next_s) AS to_next_med, sum(work_s) AS work, sum(wait_s) AS wait, "
        "sum(wait_s * wait_s) AS wait_sq, sum(rework::BIGINT) AS rework_visits, "
        "sum(rework_s) AS rework_s FROM v GROUP BY code) x), "
        "(SELECT list(x) FROM (SELECT code AS activity, count(*) AS n FROM (SELECT DISTINCT code, "
        "case_id FROM v WHERE rework) GROUP BY code) x), "
        f"{services}, "
        "(SELECT list(x) FROM (SELECT code AS activity, next_code AS next_act, count(*) AS n, "
        "avg(to_next_s) AS mean, "
        "median(to_next_s) AS median, min(to_next_s) AS lo, max(to_next_s) AS hi FROM v "
        "WHERE next_code IS NOT NULL GROUP BY ALL) x), "
        "(SELECT list(x) FROM (SELECT code AS activity, count(*) AS n FROM v WHERE pos = 1 "
        "GROUP BY code) x), "
        "(SELECT list(x) FROM (SELECT code AS activity, count(*) AS n FROM v "
        "WHERE next_code IS NULL GROUP BY code) x), "
        f"{handovers}")
