"""Process discovery on Spark as Spark SQL: the twin of :mod:`dipstick.engine.discovery_sql`
(same definitions, column for column), so a window's discovery is two statements — the log's
shape, then every aggregate at once — where the portable Narwhals formulation ran a dozen Spark
jobs, each planned anew from a growing lazy plan (docs/decisions.md, "Discovery on Spark is
Spark SQL").

Where the dialects differ: backquoted names, ``unix_micros`` for ``epoch_us``, ``named_struct``
and ``collect_list`` for struct literals and lists, ``percentile`` for ``quantile_cont``,
activity codes from ``array_position`` over the sorted names (a parameter, never spliced into
the text), and a repeat visit told by ``pos > min(pos)`` over (case, activity) for any number
of activities (Spark clusters that window by case already: a sort, no second shuffle).
Timestamps come back as microseconds since 1970 and become naive UTC datetimes here, whatever
the Python process's time zone.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from dipstick.engine.discovery_sql import (
    KEYS,
    THROUGHPUT_QUANTILES,
    VARIANT_HASH,
    LogShape,
    handovers_per_case,
    variant_hash,
)

_EPOCH = datetime(1970, 1, 1)


@contextmanager
def events_view(df: Any, process: str | None) -> Iterator[tuple[str, dict[str, Any]]]:
    """The events (of one process when ``process`` is given and the frame has the column) as
    SQL: a ``FROM`` clause and its parameters, over a temporary view dropped afterwards."""
    name = f"_events_{uuid.uuid4().hex[:12]}"
    df.createOrReplaceTempView(name)
    try:
        if process is not None and "process" in df.columns:
            yield f"(SELECT * FROM {name} WHERE process = :process)", {"process": process}
        else:
            yield name, {}
    finally:
        df.sparkSession.catalog.dropTempView(name)


def shape(df: Any, source: str, args: dict[str, Any]) -> LogShape:
    """:func:`dipstick.engine.discovery_sql.shape` on Spark: one grouped scan."""
    cols = tuple(df.columns)
    starts = "count_if(lifecycle = 'start')" if "lifecycle" in cols else "0"
    optional = [c for c in ("service", "resource") if c in cols]
    counts = "".join(f", count({c})" for c in optional)
    rows = df.sparkSession.sql(f"SELECT activity, count(*), {starts}{counts} FROM {source} "
                               "GROUP BY activity", args=args).collect()
    empty = {c for i, c in enumerate(optional) if not sum(int(r[3 + i]) for r in rows)}
    return LogShape(tuple(sorted(str(r[0]) for r in rows)), sum(int(r[1]) for r in rows),
                    sum(int(r[2]) for r in rows), tuple(c for c in cols if c not in empty))


def aggregates(df: Any, source: str, args: dict[str, Any], log: LogShape,
               wait_names: Sequence[str], collapse: bool, top: int) -> dict[str, Any]:
    """:func:`dipstick.engine.discovery_sql.aggregates` on Spark: one statement, one row, as
    plain Python values keyed by ``KEYS`` (activities as 1-based codes in name order)."""
    sql = _aggregate_sql(source, log, wait_names, collapse, top)
    params = {**args, "acts": list(log.activities)}
    row = df.sparkSession.sql(sql, args=params).collect()[0].asDict(recursive=True)
    found = {k: row[k] for k in KEYS}
    head = found["head"]
    head["first"], head["last"] = _time(head["first"]), _time(head["last"])
    found["throughput"]["last_start"] = _time(found["throughput"]["last_start"])
    found["variants"] = sorted(found["variants"] or (), key=lambda x: (-x["cases"], x["rep"]))
    for x in found["sequences"] or ():
        x["acts"] = [c["code"] for c in x["acts"]]
    return found


def _time(us: int | None) -> datetime | None:
    return None if us is None else _EPOCH + timedelta(microseconds=us)


def _secs(later: str, earlier: str) -> str:
    return f"(unix_micros({later}) - unix_micros({earlier})) / 1000000"


def _nonneg(e: str) -> str:
    return f"CASE WHEN {e} < 0 THEN 0.0 ELSE {e} END"


def _visits_sql(source: str, log: LogShape, wait_names: Sequence[str], collapse: bool) -> str:
    """The CTEs of one row per activity visit (``v``), as ``discovery_sql._visits_sql``
    defines them: one window by case and time, and (case, activity) for the repeats."""
    cols = log.columns
    tie = ", _row" if "_row" in cols else ""
    service = ", service" if "service" in cols else ""
    ts = "CAST(timestamp AS TIMESTAMP)"
    if log.lifecycle:
        per_act = f"PARTITION BY case_id, activity ORDER BY ts, seq{tie}"
        ev = (f"ev0 AS (SELECT case_id, activity, {ts} AS ts, seq{tie}{service}, lifecycle "
              f"FROM {source}), "
              f"st AS (SELECT case_id, activity, ts AS start, row_number() OVER ({per_act}) AS k "
              "FROM ev0 WHERE lifecycle = 'start'), "
              f"en AS (SELECT *, row_number() OVER ({per_act}) AS k FROM ev0 "
              "WHERE lifecycle <> 'start' OR lifecycle IS NULL), "
              "ev AS (SELECT en.case_id, en.activity, en.ts AS `end`, en.seq"
              f"{', en._row' if tie else ''}{', en.service' if service else ''}, "
              "st.start IS NOT NULL AS paired, CASE WHEN st.start IS NULL OR st.start > en.ts "
              "THEN en.ts ELSE st.start END AS start FROM en LEFT JOIN st "
              "ON en.case_id = st.case_id AND en.activity = st.activity AND en.k = st.k)")
    else:
        base = f"SELECT case_id, activity, {ts} AS `end`, seq{tie}{service} FROM {source}"
        if collapse:
            ev = (f"ev0 AS ({base}), ev AS (SELECT case_id, activity, `end`, seq{tie}{service} "
                  "FROM (SELECT *, lag(activity) OVER (PARTITION BY case_id ORDER BY `end`, "
                  f"seq{tie}) AS _prev FROM ev0) WHERE _prev IS NULL OR _prev <> activity)")
        else:
            ev = f"ev AS ({base})"
    codes = [str(i + 1) for i, a in enumerate(log.activities) if a in set(wait_names)]
    listed = f"({', '.join(codes)})"

    def waiting(c: str) -> str:
        return f"({c} IN {listed})" if codes else "FALSE"

    if log.lifecycle:
        spent = _secs("`end`", "start")
        gap = _nonneg(_secs("start", "prev_end"))
        wait = f"coalesce({gap}, 0.0) + CASE WHEN {waiting('code')} THEN {spent} ELSE 0.0 END"
        moves = ("lead(start) OVER w AS next_start, lag(`end`) OVER w AS prev_end, paired, "
                 "start", "")
    else:
        spent = "coalesce(to_next_s, 0.0)"
        wait = f"CASE WHEN {waiting('code')} THEN {spent} ELSE 0.0 END"
        moves = ("lead(`end`) OVER w AS next_start", ", `end` AS start")
    work = f"CASE WHEN {waiting('code')} THEN 0.0 ELSE {spent} END"
    rework = f"(again AND NOT coalesce({waiting('prev_code')}, FALSE))"
    code = "CAST(array_position(:acts, activity) AS BIGINT)"
    return (f"{ev}, "
            f"w AS (SELECT case_id, code, `end`, seq{tie}{service}, "
            f"lead(code) OVER w AS next_code, {moves[0]}, "
            "CAST(row_number() OVER w AS BIGINT) AS pos, lag(code) OVER w AS prev_code "
            f"FROM (SELECT *, {code} AS code FROM ev) "
            f"WINDOW w AS (PARTITION BY case_id ORDER BY `end`, seq{tie})), "
            f"t AS (SELECT *, {_nonneg(_secs('next_start', '`end`'))} AS to_next_s, "
            f"pos > min(pos) OVER (PARTITION BY case_id, code) AS again{moves[1]} FROM w), "
            f"r AS (SELECT *, {_secs('`end`', 'start')} AS process_s, {work} AS work_s, "
            f"{wait} AS wait_s, {rework} AS rework FROM t), "
            "v AS (SELECT *, CASE WHEN rework THEN work_s ELSE 0.0 END AS rework_s FROM r)")


def _aggregate_sql(source: str, log: LogShape, wait_names: Sequence[str], collapse: bool,
                   top: int) -> str:
    """``discovery_sql._aggregate_sql`` in Spark SQL: one row of scalar subqueries, each
    aggregate a list of structs (or a struct)."""
    paired = "sum(CAST(paired AS BIGINT))" if log.lifecycle else "0"
    qs = ", ".join(str(q) for q in THROUGHPUT_QUANTILES)
    services = ("(SELECT collect_list(named_struct('activity', code, 'service', service, 'n', n))"
                " FROM (SELECT code, service, count(*) AS n FROM v WHERE service IS NOT NULL "
                "GROUP BY code, service))" if "service" in log.columns else "NULL")
    handovers = ("(SELECT named_struct('total', sum(h), 'cases', count_if(h > 0), 'known', "
                 f"count(*)) FROM ({handovers_per_case(source, log)}))"
                 if "resource" in log.columns else "NULL")
    hashes = ", ".join(f"sum({variant_hash(*h)}) AS h{i}" for i, h in enumerate(VARIANT_HASH))
    keys = ", ".join(f"h{i}" for i in range(len(VARIANT_HASH)))

    def listed(fields: str, rest: str) -> str:
        return f"(SELECT collect_list(named_struct({fields})) FROM ({rest}))"

    return (
        f"WITH {_visits_sql(source, log, wait_names, collapse)}, "
        f"per_case AS (SELECT case_id, count(*) AS n, {hashes}, min(start) AS first, "
        "max(`end`) AS last FROM v GROUP BY case_id), "
        f"tp AS (SELECT *, {_secs('last', 'first')} AS tp FROM per_case), "
        f"var AS (SELECT n, {keys}, count(*) AS cases, avg(tp) AS tp, min(case_id) AS rep "
        f"FROM tp GROUP BY n, {keys}), "
        f"top AS (SELECT cases, tp, rep FROM var ORDER BY cases DESC, rep LIMIT {int(top)}) "
        "SELECT "
        "(SELECT named_struct('n', count(*), 'cases', count_if(pos = 1), "
        "'first', unix_micros(min(start)), 'last', unix_micros(max(`end`)), "
        f"'paired', {paired}) FROM v) AS head, "
        + listed("'cases', cases, 'tp', tp, 'rep', rep", "SELECT * FROM top") + " AS variants, "
        + listed("'case_id', case_id, 'acts', acts",
                 "SELECT case_id, array_sort(collect_list(named_struct('pos', pos, 'code', "
                 "code))) AS acts FROM v WHERE case_id IN (SELECT rep FROM top) "
                 "GROUP BY case_id") + " AS sequences, "
        "(SELECT count(*) FROM var) AS variant_count, "
        "(SELECT named_struct('mean', avg(tp), 'max', max(tp), "
        f"'qs', percentile(tp, array({qs})), 'last_start', unix_micros(max(first))) FROM tp) "
        "AS throughput, "
        + listed("'activity', code, 'visits', visits, 'cases', cases, 'order', ord, "
                 "'process', process, 'to_next', to_next, 'to_next_med', to_next_med, "
                 "'work', work, 'wait', wait, 'wait_sq', wait_sq, "
                 "'rework_visits', rework_visits, 'rework_s', rework_s",
                 "SELECT code, count(*) AS visits, count_if(NOT again) AS cases, "
                 "avg(pos) FILTER (WHERE NOT again) AS ord, avg(process_s) AS process, "
                 "avg(to_next_s) AS to_next, median(to_next_s) AS to_next_med, "
                 "sum(work_s) AS work, sum(wait_s) AS wait, sum(wait_s * wait_s) AS wait_sq, "
                 "sum(CAST(rework AS BIGINT)) AS rework_visits, sum(rework_s) AS rework_s "
                 "FROM v GROUP BY code") + " AS activities, "
        + listed("'activity', code, 'n', n",
                 "SELECT code, count(*) AS n FROM (SELECT DISTINCT code, case_id FROM v "
                 "WHERE rework) GROUP BY code") + " AS rework_cases, "
        f"{services} AS services, "
        + listed("'activity', code, 'next_act', next_code, 'n', n, 'mean', mean, "
                 "'median', med, 'lo', lo, 'hi', hi",
                 "SELECT code, next_code, count(*) AS n, avg(to_next_s) AS mean, "
                 "median(to_next_s) AS med, min(to_next_s) AS lo, max(to_next_s) AS hi FROM v "
                 "WHERE next_code IS NOT NULL GROUP BY code, next_code") + " AS edges, "
        + listed("'activity', code, 'n', n",
                 "SELECT code, count(*) AS n FROM v WHERE pos = 1 GROUP BY code")
        + " AS start_activities, "
        + listed("'activity', code, 'n', n",
                 "SELECT code, count(*) AS n FROM v WHERE next_code IS NULL GROUP BY code")
        + " AS end_activities, "
        f"{handovers} AS handovers")
