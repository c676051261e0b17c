"""The app database: every ``dipstick check`` run and its results, kept as history for trends.

A SQLite file (``dipstick.db`` in the current directory) by default, so nothing needs
installing; PostgreSQL when a team shares it, by ``DIPSTICK_DATABASE_URL``. This is the one
module that reads and writes the app's tables; everything goes through :class:`Store`::

    store = Store.open()            # env DIPSTICK_DATABASE_URL, else ./dipstick.db
    store.migrate()                 # Alembic upgrade to head; safe to repeat
    run_id = store.save_run(result, started_at=t0, finished_at=t1, command="check demo/")
    store.load_run(run_id) == result.to_json()   # after JSON normalisation

Every database failure surfaces as :class:`~dipstick.errors.StoreError` naming the database
(password hidden) and the reason, never as a driver traceback.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.util import CommandError
from sqlalchemy import Engine, create_engine, event, insert, make_url, select
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError
from sqlalchemy.orm import selectinload, sessionmaker

from dipstick.database import DEFAULT_FILE, ENV_URL, default_url, sqlite_file_missing
from dipstick.errors import StoreError, UsageError
from dipstick.findings import Status, Window
from dipstick.store.tables import FindingRow, Run, ServiceResult

if TYPE_CHECKING:
    from dipstick.check import CheckResult

__all__ = ["DEFAULT_FILE", "ENV_URL", "HistoryPoint", "RunSummary", "Store", "default_url",
           "sqlite_file_missing"]

MIGRATIONS = Path(__file__).parent / "migrations"
CONNECT_TIMEOUT_S = 10


@dataclass(frozen=True)
class RunSummary:
    """One line of the run list: when, over what, how many lights of each colour, total leak."""

    id: int
    started_at: datetime
    finished_at: datetime
    command: str
    as_of: date
    organisation: str
    package: str
    currency: str
    services: int
    counts: dict[str, int]
    leak_money: float
    leak_hours: float


@dataclass(frozen=True)
class HistoryPoint:
    """One service's headline in one run, the unit of its trend line."""

    run_id: int
    as_of: date
    started_at: datetime
    status: Status
    score: float
    leak_money: float
    leak_hours: float
    leak_cause: str | None


class Store:
    """A connection pool to the app database plus the few operations dipstick needs on it."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._session = sessionmaker(engine, expire_on_commit=False)

    @classmethod
    def open(cls, url: str | None = None) -> Store:
        """Connect (creating a SQLite file if needed) and check the database answers."""
        url = url or default_url()
        try:
            parsed = make_url(url)
            args: dict[str, Any] = {}
            if parsed.get_backend_name() == "postgresql" and "connect_timeout" not in parsed.query:
                args["connect_timeout"] = CONNECT_TIMEOUT_S
            engine = create_engine(parsed, connect_args=args)
        except (ArgumentError, ImportError, ValueError) as e:
            raise StoreError(f"bad database URL {_mask(url)!r}: {e}. Expected e.g. "
                             "sqlite:///dipstick.db or postgresql+psycopg://user@host/db") from e
        if engine.dialect.name == "sqlite":
            event.listen(engine, "connect", _sqlite_foreign_keys)
        store = cls(engine)
        with store._guard("reach"), engine.connect():
            pass
        return store

    @property
    def url(self) -> str:
        """The database URL with any password hidden, fit for messages and ``--help``."""
        return self.engine.url.render_as_string(hide_password=True)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def migrate(self) -> None:
        """Upgrade the schema to the newest migration shipped with this dipstick."""
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        url = self.engine.url.render_as_string(hide_password=False)
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
        with self._guard("migrate"), self.engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "head")

    def revision(self) -> str | None:
        """The migration the database is at (``None`` before the first ``migrate``)."""
        with self._guard("read the schema version of"), self.engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    def save_run(self, result: CheckResult, *, started_at: datetime, finished_at: datetime,
                 command: str) -> int:
        """Store a run, its service verdicts and their findings in one transaction; return the
        run id. On any failure nothing is stored, so history never holds half a run."""
        doc = result.to_json()
        run = Run(
            started_at=started_at, finished_at=finished_at, command=command,
            json_schema=doc["schema"], organisation=result.organisation, package=result.package,
            currency=result.currency, hourly_rate=result.hourly_rate, as_of=result.as_of,
            window_days=result.window.days, baseline_days=result.window.baseline_days,
            causes=list(doc["causes"]), services_count=len(result.verdicts),
            ok_count=result.count(Status.OK), watch_count=result.count(Status.WATCH),
            leak_count=result.count(Status.LEAK), unknown_count=result.count(Status.UNKNOWN),
            leak_money=result.leak_money, leak_hours=result.leak_hours,
            as_of_reason=result.as_of_reason, coverage=doc["coverage"])
        services = [
            {"position": i, "service_id": v.service.id, "name": v.service.name,
             "owner": v.service.owner, "lifecycle": v.service.lifecycle, "status": v.status.value,
             "score": v.score, "leak_money": v.leak.money, "leak_hours": v.leak.hours,
             "leak_cause": v.leak_cause, "leak_formula": v.leak.formula,
             "leak_low": v.leak.low, "leak_high": v.leak.high,
             "episodes": [e.to_json() for e in v.episodes]}
            for i, v in enumerate(result.verdicts)]
        # Bulk inserts (Core, executemany) instead of one ORM object per row: a 2,000-service
        # run has 16,000 findings, which the unit of work took seconds to flush.
        with self._guard("save the run to"), self._session.begin() as session:
            session.add(run)
            session.flush()
            for row in services:
                row["run_id"] = run.id
            ids = session.scalars(
                insert(ServiceResult).returning(ServiceResult.id, sort_by_parameter_order=True),
                services).all() if services else []
            findings = [
                {"service_result_id": sid, "position": j, "cause": f.cause,
                 "status": f.status.value, "score": f.score, "summary": f.summary,
                 "leak_money": f.leak.money, "leak_hours": f.leak.hours,
                 "leak_formula": f.leak.formula, "action": f.action, "since": f.since,
                 "leak_low": f.leak.low, "leak_high": f.leak.high,
                 "symptom_of": f.symptom_of, "episode": f.episode, "basis": f.basis,
                 "evidence": _finite(vdoc["causes"][f.cause]["evidence"]),
                 "coverage": vdoc["causes"][f.cause]["coverage"]}
                for sid, v, vdoc in zip(ids, result.verdicts, doc["services"], strict=True)
                for j, f in enumerate(v.findings)]
            if findings:
                session.execute(insert(FindingRow), findings)
            return run.id

    def runs(self, limit: int = 20) -> list[RunSummary]:
        """The latest runs, newest first."""
        query = select(Run).order_by(Run.started_at.desc(), Run.id.desc()).limit(limit)
        with self._guard("list the runs in"), self._session() as session:
            return [_summary(r) for r in session.scalars(query)]

    def load_run(self, run_id: int) -> dict[str, Any]:
        """A stored run in the shape of :meth:`CheckResult.to_json`, numbers rounded alike."""
        query = (select(Run).where(Run.id == run_id)
                 .options(selectinload(Run.services).selectinload(ServiceResult.findings)))
        with self._guard("load a run from"), self._session() as session:
            run = session.scalars(query).one_or_none()
            if run is None:
                raise UsageError(f"no run {run_id} in the app database at {self.url}")
            return _run_json(run)

    def service_history(self, service_id: str) -> list[HistoryPoint]:
        """The service's headline in every run that checked it, oldest first (by as-of date)."""
        query = (select(ServiceResult, Run.as_of, Run.started_at)
                 .join(Run).where(ServiceResult.service_id == service_id)
                 .order_by(Run.as_of, Run.started_at, Run.id))
        with self._guard("read the history in"), self._session() as session:
            return [HistoryPoint(s.run_id, as_of, started, Status(s.status), s.score,
                                 s.leak_money, s.leak_hours, s.leak_cause)
                    for s, as_of, started in session.execute(query)]

    @contextmanager
    def _guard(self, action: str) -> Iterator[None]:
        """Turn driver and migration errors into one StoreError that says what failed where."""
        try:
            yield
        except (SQLAlchemyError, CommandError) as e:
            hint = ""
            if re.search(r'no such table|relation "[^"]*" does not exist', str(e)):
                hint = " (is the database migrated? run the migrations first)"
            raise StoreError(f"cannot {action} the app database at {self.url}: "
                             f"{_reason(e)}{hint}") from e


def _summary(r: Run) -> RunSummary:
    counts = {"ok": r.ok_count, "watch": r.watch_count, "leak": r.leak_count,
              "unknown": r.unknown_count}
    return RunSummary(r.id, r.started_at, r.finished_at, r.command, r.as_of, r.organisation,
                      r.package, r.currency, r.services_count, counts, r.leak_money, r.leak_hours)


def _run_json(r: Run) -> dict[str, Any]:
    """Mirror of ``CheckResult.to_json``; the round-trip test keeps the two in step."""
    window = Window(r.as_of, r.window_days, r.baseline_days)
    counts = _summary(r).counts
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
        "services": [_service_json(s) for s in r.services],
    }


def _service_json(s: ServiceResult) -> dict[str, Any]:
    return {
        "id": s.service_id, "name": s.name, "owner": s.owner,
        "lifecycle": s.lifecycle, "status": s.status, "score": s.score,
        "leak_per_month": {"money": round(s.leak_money, 2), "hours": round(s.leak_hours, 1),
                           "cause": s.leak_cause, "formula": s.leak_formula,
                           "low": _money(s.leak_low), "high": _money(s.leak_high)},
        "since": _iso(min((f.since for f in s.findings
                           if f.status == "leak" and f.since and not f.symptom_of),
                          default=None)),
        "causes": {f.cause: {
            "status": f.status, "score": f.score, "summary": f.summary,
            "since": f.since.isoformat() if f.since else None,
            "evidence": f.evidence,
            "leak_per_month": {"money": round(f.leak_money, 2), "hours": round(f.leak_hours, 1),
                               "formula": f.leak_formula, "low": _money(f.leak_low),
                               "high": _money(f.leak_high)},
            "action": f.action, "symptom_of": f.symptom_of, "episode": f.episode,
            "coverage": list(f.coverage or []),
            "basis": f.basis,
        } for f in s.findings},
        "episodes": list(s.episodes or []),
    }


def _money(v: float | None) -> float | None:
    return None if v is None else round(v, 2)


def _iso(d: date | None) -> str | None:
    return d.isoformat() if d else None


def _finite(value: Any) -> Any:
    """JSON has no NaN or infinity (PostgreSQL refuses them): store such numbers as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def _reason(e: Exception) -> str:
    orig = e.orig if isinstance(e, DBAPIError) else None
    text = str(orig if orig is not None else e).split("\n[SQL:")[0]
    return " ".join(line.strip() for line in text.strip().splitlines() if line.strip())


def _mask(url: str) -> str:
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)


def _sqlite_foreign_keys(dbapi_connection: Any, _record: Any) -> None:
    """SQLite ignores foreign keys unless asked, per connection."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
