"""Writing a run's rows fast: a 2,040-service run has 16,320 findings with ~90,000 evidence
items, and storing it must cost well under a second next to a check of ~25 s (issue 16).

What made it slow (2.6 s CPU): the whole ``CheckResult.to_json`` built only to pick pieces
from it, a recursive NaN scrub over every evidence value, and the ORM's bulk insert (rows
grouped by their keys, each JSON value serialised by the column type). Here each finding's
evidence becomes one JSON text in the C encoder (the recursive scrub runs only for the rare
row holding a NaN), and the findings go in by one ``executemany`` (SQLite) or ``COPY``
(PostgreSQL), not through SQLAlchemy's per-row parameter processing. The rows stored are the
same as before (tests/test_store.py round-trips them).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import (
    JSON,
    Column,
    Connection,
    Date,
    Double,
    Integer,
    MetaData,
    Table,
    Text,
    select,
    text,
)
from sqlalchemy import insert as core_insert
from sqlalchemy.exc import DBAPIError

from dipstick.findings import Status, Window
from dipstick.store.tables import FindingRow, Run, ServiceResult

if TYPE_CHECKING:
    from dipstick.check import CheckResult
    from dipstick.findings import Finding

# the findings table with its two JSON columns as text: the JSON is encoded once, here
_FINDING_COLUMNS = ("service_result_id", "position", "cause", "status", "score", "summary",
                    "leak_money", "leak_hours", "leak_formula", "action", "since", "leak_low",
                    "leak_high", "symptom_of", "episode", "basis", "evidence", "coverage")
_TYPES: dict[str, Any] = {"service_result_id": Integer, "position": Integer, "score": Double,
                          "leak_money": Double, "leak_hours": Double, "leak_low": Double,
                          "leak_high": Double, "since": Date}
DETAILS = ("evidence", "coverage")   # a finding's JSON columns a list of services never shows
_READ = ("service_result_id", "cause", "status", "score", "summary", "since", "leak_money",
         "leak_hours", "leak_formula", "leak_low", "leak_high", "action", "symptom_of",
         "episode", "basis")
_RUNS = cast(Table, Run.__table__)
_RESULTS = cast(Table, ServiceResult.__table__)
_FINDINGS = cast(Table, FindingRow.__table__)
_FINDINGS_AS_TEXT = Table("findings", MetaData(),
                          *(Column(c, _TYPES.get(c, Text)) for c in _FINDING_COLUMNS))


def insert_run(conn: Connection, result: CheckResult, started_at: datetime,
               finished_at: datetime, command: str) -> int:
    """Insert the run, its service verdicts and their findings on ``conn`` (in the caller's
    transaction); return the run id."""
    from dipstick.check import JSON_SCHEMA
    from dipstick.indicators.registry import CAUSES

    verdicts = result.verdicts
    counts = {s: 0 for s in Status}
    for v in verdicts:
        counts[v.status] += 1
    run_id: int = conn.execute(core_insert(_RUNS).returning(_RUNS.c.id), {
        "started_at": started_at, "finished_at": finished_at, "command": command,
        "json_schema": JSON_SCHEMA, "organisation": result.organisation,
        "package": result.package, "currency": result.currency,
        "hourly_rate": result.hourly_rate, "as_of": result.as_of,
        "window_days": result.window.days, "baseline_days": result.window.baseline_days,
        "causes": list(CAUSES), "services_count": len(verdicts),
        "ok_count": counts[Status.OK], "watch_count": counts[Status.WATCH],
        "leak_count": counts[Status.LEAK], "unknown_count": counts[Status.UNKNOWN],
        "leak_money": result.leak_money, "leak_hours": result.leak_hours,
        "as_of_reason": result.as_of_reason,
        "coverage": [c.to_json() for c in result.coverage]}).scalar_one()
    if not verdicts:
        return run_id
    services = []
    for i, v in enumerate(verdicts):
        leak = v.leak
        services.append({
            "run_id": run_id, "position": i, "service_id": v.service.id, "name": v.service.name,
            "owner": v.service.owner, "lifecycle": v.service.lifecycle,
            "status": v.status.value, "score": v.score, "leak_money": leak.money,
            "leak_hours": leak.hours, "leak_cause": v.leak_cause, "leak_formula": leak.formula,
            "leak_low": leak.low, "leak_high": leak.high,
            "episodes": [e.to_json() for e in v.episodes]})
    ids = conn.execute(core_insert(_RESULTS).returning(_RESULTS.c.id,
                                                       sort_by_parameter_order=True),
                       services).scalars().all()
    covered: dict[tuple[Any, ...], str] = {}   # a service's causes mostly share one coverage
    rows = [_finding_row(sid, j, f, covered) for sid, v in zip(ids, verdicts, strict=True)
            for j, f in enumerate(v.findings)]
    if rows:
        _insert_findings(conn, rows)
    return run_id


def read_run(conn: Connection, run_id: int, details: bool = True) -> dict[str, Any] | None:
    """A stored run in the shape of ``CheckResult.to_json`` (``None`` when there is none):
    three Core queries read as plain rows, not ORM objects. Without ``details`` each cause's
    ``evidence`` and ``coverage`` are ``None``, not read: decoding 16,320 findings' JSON is
    most of the cost, and a page listing services needs none (:func:`read_details` reads one
    service's)."""
    runs, results = _RUNS, _RESULTS
    run = conn.execute(select(runs).where(runs.c.id == run_id)).one_or_none()
    if run is None:
        return None
    services = conn.execute(select(results).where(results.c.run_id == run_id)
                            .order_by(results.c.position)).all()
    causes: dict[int, dict[str, dict[str, Any]]] = {s.id: {} for s in services}
    since: dict[int, str] = {}
    query = text(f"SELECT {', '.join('f.' + c for c in _READ + (DETAILS if details else ()))} "
                 "FROM findings f JOIN service_results s ON s.id = f.service_result_id "
                 "WHERE s.run_id = :run ORDER BY f.service_result_id, f.position")
    # plain driver values (a date is text on SQLite): no per-row type processing but the JSON
    for (sid, cause, status, score, summary, day, money, hours, formula, low, high, action,
         symptom_of, episode, basis, *more) in conn.execute(
            query.columns(evidence=JSON, coverage=JSON), {"run": run_id}):
        day = day if day is None or isinstance(day, str) else day.isoformat()
        if status == "leak" and day and not symptom_of and (
                sid not in since or day < since[sid]):
            since[sid] = day
        causes[sid][cause] = {
            "status": status, "score": score, "summary": summary, "since": day,
            "evidence": more[0] if details else None,
            "leak_per_month": {"money": round(money, 2), "hours": round(hours, 1),
                               "formula": formula, "low": _money(low), "high": _money(high)},
            "action": action, "symptom_of": symptom_of, "episode": episode,
            "coverage": list(more[1] or []) if details else None,
            "basis": basis,
        }
    return _run_json(run, [_service_json(s, causes[s.id], since.get(s.id)) for s in services])


def read_details(conn: Connection, run_id: int, service_id: str) -> dict[str, dict[str, Any]]:
    """One service's evidence and coverage in one run, by cause (empty when the run has no
    such service): what :func:`read_run` leaves out without ``details``."""
    results, findings = _RESULTS, _FINDINGS
    query = (select(findings.c.cause, findings.c.evidence, findings.c.coverage)
             .join_from(findings, results)
             .where(results.c.run_id == run_id, results.c.service_id == service_id))
    return {cause: {"evidence": evidence, "coverage": list(coverage or [])}
            for cause, evidence, coverage in conn.execute(query)}


def _finding_row(service_result_id: int, position: int, f: Finding,
                 covered: dict[tuple[Any, ...], str]) -> tuple[Any, ...]:
    from dipstick.check import evidence_json

    leak = f.leak
    coverage = covered.get(f.coverage)
    if coverage is None:
        coverage = covered[f.coverage] = json.dumps([c.to_json() for c in f.coverage])
    return (service_result_id, position, f.cause, f.status.value, f.score, f.summary,
            leak.money, leak.hours, leak.formula, f.action, f.since, leak.low, leak.high,
            f.symptom_of, f.episode, f.basis,
            json_text([evidence_json(e) for e in f.evidence]), coverage)


_STRICT = json.JSONEncoder(allow_nan=False)   # one encoder: json.dumps makes one per call


def json_text(value: Any) -> str:
    """JSON text without NaN or infinity (PostgreSQL refuses them; they are stored as null).
    The C encoder refuses them fast; only then is the value scrubbed, then encoded."""
    try:
        return _STRICT.encode(value)
    except ValueError:
        return json.dumps(finite(value))


def finite(value: Any) -> Any:
    """The value with every non-finite float replaced by ``None``, at any depth."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [finite(v) for v in value]
    return value


def _insert_findings(conn: Connection, rows: Sequence[tuple[Any, ...]]) -> None:
    """PostgreSQL: one ``COPY`` (the JSON text goes in as is); elsewhere one executemany of
    the same rows, the JSON columns typed as text so nothing is encoded twice."""
    if conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg":
        sql = f"COPY findings ({', '.join(_FINDING_COLUMNS)}) FROM STDIN"
        cursor = conn.connection.driver_connection.cursor()   # type: ignore[union-attr]
        try:
            with cursor, cursor.copy(sql) as copy:
                for row in rows:
                    copy.write_row(row)
        except conn.dialect.loaded_dbapi.Error as e:   # as SQLAlchemy would wrap it
            raise DBAPIError(sql, None, e) from e
        return
    if conn.dialect.name == "sqlite":   # the driver's executemany as is: no per-row binding
        since = _FINDING_COLUMNS.index("since")   # stored as SQLAlchemy stores a Date there
        conn.exec_driver_sql(
            f"INSERT INTO findings ({', '.join(_FINDING_COLUMNS)}) "
            f"VALUES ({', '.join('?' * len(_FINDING_COLUMNS))})",
            [r if r[since] is None else (*r[:since], r[since].isoformat(), *r[since + 1:])
             for r in rows])
        return
    conn.execute(core_insert(_FINDINGS_AS_TEXT), [dict(zip(_FINDING_COLUMNS, r, strict=True))
                                                  for r in rows])


def _run_json(r: Any, services: list[dict[str, Any]]) -> dict[str, Any]:
    """Mirror of ``CheckResult.to_json``; the round-trip test keeps the two in step."""
    window = Window(r.as_of, r.window_days, r.baseline_days)
    counts = {"ok": r.ok_count, "watch": r.watch_count, "leak": r.leak_count,
              "unknown": r.unknown_count}
    return {
        "schema": r.json_schema,
        "organisation": r.organisation,
        "currency": r.currency,
        "hourly_rate": r.hourly_rate,
        "as_of": r.as_of.isoformat(),
        "as_of_reason": r.as_of_reason,
        "window": {"current": window.period, "baseline": window.baseline_period},
        "package": r.package,
        "causes": list(r.causes),
        "summary": {
            "services": r.services_count,
            **{s.value: counts.get(s.value, 0) for s in Status},   # n/a: never a service's light
            "leak_per_month": {"money": round(r.leak_money, 2), "hours": round(r.leak_hours, 1)},
        },
        "coverage": list(r.coverage or []),
        "services": services,
    }


def _service_json(s: Any, causes: dict[str, dict[str, Any]], since: str | None
                  ) -> dict[str, Any]:
    return {
        "id": s.service_id, "name": s.name, "owner": s.owner,
        "lifecycle": s.lifecycle, "status": s.status, "score": s.score,
        "leak_per_month": {"money": round(s.leak_money, 2), "hours": round(s.leak_hours, 1),
                           "cause": s.leak_cause, "formula": s.leak_formula,
                           "low": _money(s.leak_low), "high": _money(s.leak_high)},
        "since": since,   # the earliest since of its root leaks
        "causes": causes,
        "episodes": list(s.episodes or []),
    }


def _money(v: float | None) -> float | None:
    return None if v is None else round(v, 2)
