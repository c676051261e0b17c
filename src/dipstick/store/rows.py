"""Writing a run's rows fast: a 2,040-service run has 16,320 findings with ~76,000 evidence
items, and storing it must cost well under a second next to a check of ~30 s (issue 16).

What made it slow: the whole ``CheckResult.to_json`` built only to pick pieces from it, a
recursive NaN scrub over every evidence value, the ORM's bulk insert, then (issue 16, session
10) SQLAlchemy's multi-row ``INSERT … RETURNING`` of the service rows (~1 s on PostgreSQL,
psycopg parsing the long statement), the standard library's JSON encoder (0.4 s) and each
verdict's light worked out three times. Now each finding's evidence becomes one JSON text in
pydantic-core's encoder, the service rows take their ids first and go in like the findings:
one driver ``executemany`` (SQLite) or ``COPY`` (PostgreSQL) each, fed as the rows are made.
The values stored are the same as before (tests/test_store.py round-trips them).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from pydantic_core import PydanticSerializationError, to_json
from sqlalchemy import (
    JSON,
    Column,
    Connection,
    Date,
    Dialect,
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

from dipstick.findings import Status, Window, evidence_json
from dipstick.store import core

if TYPE_CHECKING:
    from dipstick.check import CheckResult, ServiceVerdict
    from dipstick.findings import Finding, LeakEstimate, ServiceCoverage

# the findings table with its two JSON columns as text: the JSON is encoded once, here
_SERVICE_COLUMNS = ("run_id", "position", "service_id", "name", "owner", "lifecycle", "status",
                    "score", "leak_money", "leak_hours", "leak_cause", "leak_formula",
                    "leak_low", "leak_high", "episodes")
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
_RUNS, _RESULTS, _FINDINGS = core.runs, core.service_results, core.findings
# PostgreSQL compresses each long evidence text (TOAST, above ~2 KB a row: 8,884 of the large
# demo's 16,320) with pglz unless told otherwise; lz4 is faster at it (the server's CPU for
# storing that run 0.57 -> 0.42 s, the rows 5 % larger) and at reading them back. Set for the
# saving transaction only (``set_config``'s ``true``: ``SET LOCAL``), and only where the
# server has lz4 (PostgreSQL 14+ built with it; elsewhere the query sets nothing). The values
# read back are the same: the compression is the server's, below the column's type.
LZ4 = ("SELECT set_config('default_toast_compression', 'lz4', true) FROM pg_settings "
       "WHERE name = 'default_toast_compression' AND 'lz4' = ANY(enumvals)")
_FINDINGS_AS_TEXT = Table("findings", MetaData(),
                          *(Column(c, _TYPES.get(c, Text)) for c in _FINDING_COLUMNS))


def insert_run(conn: Connection, result: CheckResult, started_at: datetime,
               finished_at: datetime, command: str, meanwhile: Callable[[], object] | None = None
               ) -> tuple[int, dict[Status, int]]:
    """Insert the run, its service verdicts and their findings on ``conn`` (in the caller's
    transaction); return the run id and how many services have each light. ``meanwhile`` is
    called once, after the last finding is sent: on PostgreSQL with the ``COPY``'s end sent,
    while the server is still busy with it (the large demo: 0.1-0.3 s of its work queued
    behind the client, then the foreign keys checked), so client work done there
    (``Store.save_run`` builds and pickles the pages' context) costs no wall time of its own;
    it must not use ``conn`` (see :func:`_ending_aside`). An error it raises fails the
    transaction: nothing is stored."""
    from dipstick.check import JSON_SCHEMA
    from dipstick.indicators.registry import CAUSES

    verdicts = result.verdicts
    statuses = [v.status for v in verdicts]   # properties worked out anew at each read
    leaks = [v.leak for v in verdicts]        # (result.leak_money: the same sum, in order)
    counts = {s: 0 for s in Status}
    for status in statuses:
        counts[status] += 1
    run_id: int = conn.execute(core_insert(_RUNS).returning(_RUNS.c.id), {
        "started_at": started_at, "finished_at": finished_at, "command": command,
        "json_schema": JSON_SCHEMA, "organisation": result.organisation,
        "package": result.package, "currency": result.currency,
        "hourly_rate": result.hourly_rate, "as_of": result.as_of,
        "window_days": result.window.days, "baseline_days": result.window.baseline_days,
        "causes": list(CAUSES), "services_count": len(verdicts),
        "ok_count": counts[Status.OK], "watch_count": counts[Status.WATCH],
        "leak_count": counts[Status.LEAK], "unknown_count": counts[Status.UNKNOWN],
        "leak_money": sum(leak.money for leak in leaks),
        "leak_hours": sum(leak.hours for leak in leaks),
        "as_of_reason": result.as_of_reason,
        "coverage": [c.to_json() for c in result.coverage]}).scalar_one()
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(LZ4)   # see LZ4
    if not verdicts:
        if meanwhile:
            meanwhile()
        return run_id, counts
    ids = _insert_services(conn, run_id, verdicts, statuses, leaks)
    covered: dict[tuple[Any, ...], str] = {}   # see _coverage_text
    # SQLite takes the evidence's UTF-8 as it comes from the encoder (see _bulk)
    utf8 = conn.dialect.name == "sqlite" and conn.exec_driver_sql(
        "PRAGMA encoding").scalar_one() == "UTF-8"
    encode = json_utf8 if utf8 else json_text
    _insert_findings(conn, (_finding_row(sid, j, f, covered, encode)
                            for sid, v in zip(ids, verdicts, strict=True)
                            for j, f in enumerate(v.findings)), meanwhile)
    return run_id, counts


def _insert_services(conn: Connection, run_id: int, verdicts: Sequence[ServiceVerdict],
                     statuses: Sequence[Status], leaks: Sequence[LeakEstimate]) -> list[int]:
    """The service verdicts' rows; their ids, in order. The ids are taken first (SQLite: after
    the largest, as SQLite itself would; PostgreSQL: from the column's sequence) so the rows go
    in by the driver's executemany or ``COPY``: SQLAlchemy's multi-row ``INSERT … RETURNING``
    cost ~1 s on PostgreSQL for 2,040 rows, mostly psycopg parsing the long statement."""
    rows = []
    for i, (v, status, leak) in enumerate(zip(verdicts, statuses, leaks, strict=True)):
        rows.append((run_id, i, v.service.id, v.service.name, v.service.owner,
                     v.service.lifecycle, status.value, v.score, leak.money, leak.hours,
                     v.leak_cause, leak.formula, leak.low, leak.high,
                     # as SQLAlchemy's JSON type writes it (json.dumps)
                     json.dumps([e.to_json() for e in v.episodes])))
    dialect = conn.dialect.name
    if dialect == "sqlite":
        first = conn.exec_driver_sql("SELECT COALESCE(MAX(id), 0) + 1 FROM service_results"
                                     ).scalar_one()
        ids = list(range(first, first + len(rows)))
    elif copies(conn.dialect):
        ids = sorted(conn.exec_driver_sql(
            "SELECT nextval(pg_get_serial_sequence('service_results', 'id')) "
            f"FROM generate_series(1, {len(rows)})").scalars())
    else:
        return list(conn.execute(core_insert(_RESULTS).returning(
            _RESULTS.c.id, sort_by_parameter_order=True),
            [dict(zip(_SERVICE_COLUMNS, r, strict=True)) | {"episodes": json.loads(r[-1])}
             for r in rows]).scalars())
    _bulk(conn, "service_results", ("id", *_SERVICE_COLUMNS),
          ((sid, *r) for sid, r in zip(ids, rows, strict=True)))
    return ids


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


def read_lights(conn: Connection, run_id: int
                ) -> tuple[list[tuple[Any, ...]], list[Sequence[Any]]]:
    """A run's services, in order, as (service id, episodes' JSON decoded), and its findings
    without their evidence and coverage, by service and position: (service's position,
    cause, status, score, summary, leak money, hours, formula, low, high, action, since,
    symptom_of, episode, basis), the values as stored (``since`` a date). What
    ``dipstick.runs`` rebuilds the light verdicts of a stored run's context from. Plain
    driver values fetched at once (a date and JSON are text on SQLite, as in read_run):
    16,320 findings' rows one by one through SQLAlchemy cost twice as much."""
    services = [(sid, _json_list(episodes)) for sid, episodes in conn.execute(text(
        "SELECT service_id, episodes FROM service_results WHERE run_id = :run "
        "ORDER BY position"), {"run": run_id}).all()]
    query = text("SELECT s.position, f.cause, f.status, f.score, f.summary, f.leak_money, "
                 "f.leak_hours, f.leak_formula, f.leak_low, f.leak_high, f.action, f.since, "
                 "f.symptom_of, f.episode, f.basis FROM findings f JOIN service_results s "
                 "ON s.id = f.service_result_id WHERE s.run_id = :run "
                 "ORDER BY s.position, f.position")
    at = 11   # since
    findings: list[Sequence[Any]] = [r if r[at] is None or not isinstance(r[at], str) else
                                     (*r[:at], date.fromisoformat(r[at]), *r[at + 1:])
                                     for r in conn.execute(query, {"run": run_id}).all()]
    return services, findings


def _json_list(value: Any) -> list[Any]:
    """A JSON column's list as the driver gives it: decoded (psycopg) or its text (SQLite)."""
    if isinstance(value, str | bytes):
        return [] if value == "[]" else list(json.loads(value))
    return list(value or [])


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
                 covered: dict[tuple[Any, ...], str],
                 encode: Callable[[Any], str | bytes] | None = None) -> tuple[Any, ...]:
    leak = f.leak
    encode = encode or json_text
    coverage = _coverage_text(f.coverage, covered)
    return (service_result_id, position, f.cause, f.status.value, f.score, f.summary,
            leak.money, leak.hours, leak.formula, f.action, f.since, leak.low, leak.high,
            f.symptom_of, f.episode, f.basis,
            encode([evidence_json(e) for e in f.evidence]), coverage)


def _coverage_text(coverage: Sequence[ServiceCoverage],
                   covered: dict[tuple[Any, ...], str]) -> str:
    """``json_text`` of the coverage's JSON, each table's object encoded once per value: the
    large demo's 24,480 objects (none shared between findings) hold 6,056 values (0.082 →
    0.048 s). Compact JSON, so the list is its items' texts joined by commas. The key is every
    field of ``ServiceCoverage`` and its two ``Span`` (``ServiceCoverage.value``;
    tests/test_store.py holds them to it)."""
    texts = []
    for c in coverage:
        key = c.value
        item = covered.get(key)
        if item is None:
            item = covered[key] = json_text(c.to_json())
        texts.append(item)
    return f"[{','.join(texts)}]"


def json_text(value: Any) -> str:
    """JSON text without NaN or infinity (PostgreSQL refuses them; they are stored as null),
    by pydantic-core's encoder: three times the standard library's C encoder on the 76,527
    evidence items of the large demo. Its text is compact UTF-8 (``{"a":1}``, not
    ``{"a": 1}``): the same values to every JSON reader (docs/decisions.md). A value it cannot
    encode takes the standard library's way, which raises as before."""
    return json_utf8(value).decode()


def json_utf8(value: Any) -> bytes:
    """:func:`json_text`'s text as the encoder's UTF-8, not decoded: SQLite stores it as text
    with no round trip through a Python string (27 MB for the large demo, 0.04 s)."""
    try:
        return to_json(value, inf_nan_mode="null")
    except (PydanticSerializationError, TypeError):
        return json.dumps(finite(value)).encode()


def finite(value: Any) -> Any:
    """The value with every non-finite float replaced by ``None``, at any depth."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [finite(v) for v in value]
    return value


def copies(dialect: Dialect) -> bool:
    """Whether rows go in by ``COPY`` (PostgreSQL through psycopg): the server then writes
    them while the client goes on (``insert_run``'s ``meanwhile``)."""
    return dialect.name == "postgresql" and dialect.driver == "psycopg"


def _insert_findings(conn: Connection, rows: Iterable[tuple[Any, ...]],
                     meanwhile: Callable[[], object] | None) -> None:
    """PostgreSQL and SQLite: by the driver, the JSON text as is (see :func:`_bulk`); elsewhere
    one executemany through SQLAlchemy, the JSON columns typed as text so nothing is encoded
    twice. ``meanwhile``: see :func:`insert_run` (where nothing is left to wait for, after)."""
    if conn.dialect.name == "sqlite":
        since = _FINDING_COLUMNS.index("since")   # stored as SQLAlchemy stores a Date there
        rows = (r if r[since] is None else (*r[:since], r[since].isoformat(), *r[since + 1:])
                for r in rows)
    if conn.dialect.name == "sqlite" or copies(conn.dialect):
        _bulk(conn, "findings", _FINDING_COLUMNS, rows, meanwhile)
        return
    conn.execute(core_insert(_FINDINGS_AS_TEXT), [dict(zip(_FINDING_COLUMNS, r, strict=True))
                                                  for r in rows])
    if meanwhile:
        meanwhile()


def _bulk(conn: Connection, table: str, columns: Sequence[str],
          rows: Iterable[tuple[Any, ...]], meanwhile: Callable[[], object] | None = None
          ) -> None:
    """Rows into ``table`` on the caller's transaction with no per-row work in SQLAlchemy:
    PostgreSQL one ``COPY``, fed as the rows are made, so the server writes them while
    Python makes the next ones; SQLite the driver's executemany as is, the evidence cast to
    text: it may come as the UTF-8 bytes of its JSON, which SQLite would otherwise keep as a
    blob (``CAST`` of text is text, unchanged). ``meanwhile`` is called once the rows are
    sent: beside the ``COPY``'s end, while the server finishes it (:func:`_ending_aside`)."""
    names = ", ".join(columns)
    if conn.dialect.name == "sqlite":
        marks = ", ".join("CAST(? AS TEXT)" if c == "evidence" else "?" for c in columns)
        conn.exec_driver_sql(f"INSERT INTO {table} ({names}) VALUES ({marks})", list(rows))
        if meanwhile:
            meanwhile()
        return
    sql = f"COPY {table} ({names}) FROM STDIN"
    cursor = conn.connection.driver_connection.cursor()   # type: ignore[union-attr]
    try:
        with cursor, cursor.copy(sql, writer=meanwhile and _ending_aside(cursor, meanwhile)
                                 ) as copy:
            for row in rows:
                copy.write_row(row)
    except conn.dialect.loaded_dbapi.Error as e:   # as SQLAlchemy would wrap it
        raise DBAPIError(sql, None, e) from e


def _ending_aside(cursor: Any, meanwhile: Callable[[], object]) -> Any:
    """psycopg's writer of a ``COPY``, but at its end: the end sent and its result awaited in
    a thread of its own while ``meanwhile`` runs here. PostgreSQL checks the rows' foreign
    keys only once the ``COPY`` has ended (the large demo's 16,320 findings: ~0.1 s of the
    server's, which the client waited for after ``meanwhile``, issue 16 session 16); the
    thread holds the GIL only to send the end and read the result. ``meanwhile`` must not use
    the connection. Its error is raised after the result is in (the caller's transaction then
    rolls back); else the server's, if any. A ``COPY`` ended by an error (``exc``) ends as
    psycopg ends it, without ``meanwhile``."""
    import threading

    from psycopg.copy import LibpqWriter

    class EndingAside(LibpqWriter):
        def finish(self, exc: BaseException | None = None) -> None:
            if exc is not None:
                super().finish(exc)
                return
            failed: list[BaseException] = []

            def end() -> None:
                try:
                    LibpqWriter.finish(self)
                except BaseException as e:   # raised below, in the caller's thread
                    failed.append(e)

            ending = threading.Thread(target=end, name="dipstick-copy-end")
            ending.start()
            try:
                meanwhile()
            finally:
                ending.join()
            if failed:
                raise failed[0]

    return EndingAside(cursor)


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
