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

import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

from sqlalchemy import Connection, Engine, create_engine, event, make_url, select
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError

from dipstick import collector
from dipstick.database import DEFAULT_FILE, ENV_URL, default_url, sqlite_file_missing
from dipstick.errors import StoreError, UsageError
from dipstick.findings import Status
from dipstick.store.audit import Actor, record
from dipstick.store.core import runs as _runs
from dipstick.store.core import service_results as _results
from dipstick.store.extras import extras_body, read_extras, write_extras
from dipstick.store.rows import copies, insert_run, read_details, read_lights, read_run

if TYPE_CHECKING:
    from dipstick.check import CheckResult

__all__ = ["DEFAULT_FILE", "ENV_URL", "HistoryPoint", "RunSummary", "Store", "default_url",
           "sqlite_file_missing"]

MIGRATIONS = Path(__file__).parent / "migrations"
# the newest migration shipped (tests/test_store_head.py keeps it equal to Alembic's head): a
# database already there is not handed to Alembic, whose import alone cost ~0.3 s of storing
HEAD = "0013"
CONNECT_TIMEOUT_S = 10
# A new SQLite file's page size, not SQLite's 4096: a run's 16,320 findings are ~2 KB rows
# (their evidence JSON), and on 32 KB pages storing them costs less CPU (the write and the
# checkpoint into the file: the large demo's run 0.50 -> 0.27 s), the file is 19 % smaller
# and the run reads back faster (docs/decisions.md, session 14).
SQLITE_PAGE_SIZE = 32768


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
    """A connection pool to the app database plus the few operations dipstick needs on it.
    Its own reads and writes are Core statements (:mod:`dipstick.store.core`): a stored
    ``dipstick check`` never imports SQLAlchemy's ORM (~0.2 s of CPU, issue 16); the modules
    that map objects (users, alerts, actions, pulse writes) import it themselves."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

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
            event.listen(engine, "connect", _sqlite_connection)
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

    def migrate(self, revision: str = "head") -> None:
        """Upgrade the schema to the newest migration shipped with this dipstick (or to an
        earlier ``revision``: the upgrade test builds every older schema this way). A database
        already at the newest is left as is without loading Alembic (:data:`HEAD`)."""
        if revision == "head" and self._at_head():
            return
        from alembic import command
        from alembic.config import Config
        from alembic.util import CommandError

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        url = self.engine.url.render_as_string(hide_password=False)
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
        with self._guard("migrate", CommandError), self.engine.connect() as conn:
            sqlite = conn.dialect.name == "sqlite"
            if sqlite:   # see _sqlite_keys: a rebuilt table must not empty its children
                _sqlite_keys(conn, on=False)
            try:
                with conn.begin():
                    config.attributes["connection"] = conn
                    command.upgrade(config, revision)
                    if sqlite and (broken := conn.exec_driver_sql(
                            "PRAGMA foreign_key_check").all()):
                        raise StoreError(f"the upgrade would break {len(broken)} reference(s) "
                                         f"(first: {tuple(broken[0])}): it is not committed")
            finally:
                if sqlite:
                    _sqlite_keys(conn, on=True)

    def _at_head(self) -> bool:
        """Whether the schema is at :data:`HEAD` (one row in Alembic's version table); any
        doubt (no such table, the database unreachable) says no and leaves it to Alembic."""
        try:
            with self.engine.connect() as conn:
                found = conn.exec_driver_sql("SELECT version_num FROM alembic_version").all()
        except SQLAlchemyError:
            return False
        return [tuple(r) for r in found] == [(HEAD,)]

    def revision(self) -> str | None:
        """The migration the database is at (``None`` before the first ``migrate``)."""
        from alembic.runtime.migration import MigrationContext

        with self._guard("read the schema version of"), self.engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    def save_run(self, result: CheckResult, *, started_at: datetime, finished_at: datetime,
                 command: str, extras: object | None = None, actor: Actor | None = None,
                 build_extras: Callable[[], object | None] | None = None) -> int:
        """Store a run, its service verdicts and their findings in one transaction; return the
        run id. On any failure nothing is stored, so history never holds half a run.
        ``extras``: what the pages need beyond the rows (``dipstick.runs.RunContext``),
        stored with the run so that no page re-checks its package. ``build_extras``, instead
        of ``extras``: makes them (``None``: none stored) — on PostgreSQL while the server
        writes the findings (``insert_run``'s ``meanwhile``: ``dipstick check`` builds the
        run's context there, the package still open, in wall time it waited for before),
        elsewhere before the transaction (SQLite: nothing to wait for, and its write lock not
        held the longer). ``actor``: who ran the check, for the audit trail (in the same
        transaction). The collector is paused meanwhile (:mod:`dipstick.collector`): storing a
        large run makes ~200,000 short-lived objects beside the check's millions of
        long-lived ones, none of them cyclic."""
        if build_extras is not None and not copies(self.engine.dialect):
            extras, build_extras = build_extras(), None
        made: list[bytes] = []

        def encode() -> None:   # pickling the context while PostgreSQL writes the findings
            value = extras if build_extras is None else build_extras()
            if value is not None:
                made.append(extras_body(value))

        with collector.paused(), self._guard("save the run to"), self.engine.begin() as conn:
            run_id, counts = insert_run(conn, result, started_at, finished_at, command,
                                        meanwhile=encode)
            for body in made:
                write_extras(conn, run_id, body)
            leaks = counts[Status.LEAK]
            record(conn, actor, "check", f"run:{run_id}",
                   {"package": result.package, "organisation": result.organisation,
                    "as_of": result.as_of.isoformat(), "leaks": leaks})
            return run_id

    def load_extras(self, run_id: int) -> object | None:
        """The run's stored extras; ``None`` for a run stored without (or before migration
        0011), or by another dipstick version."""
        with self._guard("load the extras of a run from"), self.engine.connect() as conn:
            return read_extras(conn, run_id)

    def load_lights(self, run_id: int) -> tuple[list[tuple[Any, ...]], list[Sequence[Any]]]:
        """A run's services and their findings without evidence or coverage, as stored
        (:func:`dipstick.store.rows.read_lights`): what ``dipstick.runs`` rebuilds a stored
        context's verdicts from."""
        with self._guard("load a run from"), self.engine.connect() as conn:
            return read_lights(conn, run_id)

    def runs(self, limit: int = 20) -> list[RunSummary]:
        """The latest runs, newest first."""
        query = select(_runs).order_by(_runs.c.started_at.desc(), _runs.c.id.desc()).limit(limit)
        with self._guard("list the runs in"), self.engine.connect() as conn:
            return [_summary(r) for r in conn.execute(query)]

    def load_run(self, run_id: int, details: bool = True) -> dict[str, Any]:
        """A stored run in the shape of :meth:`CheckResult.to_json`, numbers rounded alike;
        without ``details``, each cause's evidence and coverage are ``None`` (see
        :meth:`details`)."""
        with self._guard("load a run from"), self.engine.connect() as conn:
            found = read_run(conn, run_id, details)
        if found is None:
            raise UsageError(f"no run {run_id} in the app database at {self.url}")
        return found

    def details(self, run_id: int, service_id: str) -> dict[str, dict[str, Any]]:
        """One service's evidence and coverage in one run, by cause (what ``load_run`` left
        out without ``details``)."""
        with self._guard("load the evidence from"), self.engine.connect() as conn:
            return read_details(conn, run_id, service_id)

    def service_history(self, service_id: str) -> list[HistoryPoint]:
        """The service's headline in every run that checked it, oldest first (by as-of date)."""
        s, r = _results.c, _runs.c
        query = (select(s.run_id, r.as_of, r.started_at, s.status, s.score, s.leak_money,
                        s.leak_hours, s.leak_cause)
                 .join_from(_results, _runs).where(s.service_id == service_id)
                 .order_by(r.as_of, r.started_at, r.id))
        with self._guard("read the history in"), self.engine.connect() as conn:
            return [HistoryPoint(run_id, as_of, started, Status(status), score, money, hours,
                                 cause)
                    for run_id, as_of, started, status, score, money, hours, cause
                    in conn.execute(query)]

    @contextmanager
    def _guard(self, action: str, *also: type[Exception]) -> Iterator[None]:
        """Turn driver errors (and ``also``: Alembic's, while migrating) into one StoreError
        that says what failed where."""
        caught: tuple[type[Exception], ...] = (SQLAlchemyError, *also)
        try:
            yield
        except caught as e:
            hint = ""
            if re.search(r'no such table|relation "[^"]*" does not exist', str(e)):
                hint = " (is the database migrated? run the migrations first)"
            raise StoreError(f"cannot {action} the app database at {self.url}: "
                             f"{_reason(e)}{hint}") from e


def _summary(r: Any) -> RunSummary:
    """A run's line from its row in ``runs``."""
    counts = {"ok": r.ok_count, "watch": r.watch_count, "leak": r.leak_count,
              "unknown": r.unknown_count}
    return RunSummary(r.id, r.started_at, r.finished_at, r.command, r.as_of, r.organisation,
                      r.package, r.currency, r.services_count, counts, r.leak_money, r.leak_hours)


def _reason(e: Exception) -> str:
    orig = e.orig if isinstance(e, DBAPIError) else None
    text = str(orig if orig is not None else e).split("\n[SQL:")[0]
    return " ".join(line.strip() for line in text.strip().splitlines() if line.strip())


def _mask(url: str) -> str:
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)


def _sqlite_keys(conn: Connection, on: bool) -> None:
    """Foreign keys off while migrating SQLite, back on after. Alembic's batch mode changes a
    constraint by copying the table and dropping the old one, and with foreign keys on SQLite
    runs that DROP as a DELETE whose ON DELETE CASCADE empties the child tables: an upgrade
    from 0003/0004 through 0005 deleted every alert delivery (tests/test_migrations_upgrade).
    The pragma only counts outside a transaction, hence its own commit; the references are
    checked (``foreign_key_check``) before the upgrade commits."""
    conn.exec_driver_sql(f"PRAGMA foreign_keys={'ON' if on else 'OFF'}")
    conn.commit()


def _sqlite_connection(dbapi_connection: Any, _record: Any) -> None:
    """Per connection: SQLite ignores foreign keys unless asked. And a database not written yet
    gets pages of :data:`SQLITE_PAGE_SIZE` bytes (an existing file keeps its own: the pragma
    changes nothing there)."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA page_size={SQLITE_PAGE_SIZE}")
    cursor.close()
