"""The pulse reads every stored check makes — the organisation's check-ins and their answers,
joined to its surveys (:mod:`dipstick.pulse.feed`) — and the SQLite writers' lock they share
with :mod:`dipstick.store.pulse`, the pulse repository, which re-exports them.

Apart from it because they are Core queries on Core tables (:mod:`dipstick.store.core`): the
repository maps objects with SQLAlchemy's ORM, whose import cost ~0.2 s of CPU of every stored
``dipstick check`` when the feed imported the repository (issue 16, session 14).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, Engine, event, select

from dipstick.store import Store
from dipstick.store.core import pulse_answers, pulse_campaigns

SQLITE_BUSY_MS = 30_000
_locks: weakref.WeakKeyDictionary[Engine, threading.Lock] = weakref.WeakKeyDictionary()
_locks_guard = threading.Lock()


@dataclass(frozen=True)
class Campaign:
    id: int
    organisation: str
    service_id: str
    service_name: str
    groups: tuple[str, ...]
    questions: dict[str, Any]
    source: str
    package: str | None
    created_at: datetime
    created_by: str
    closes_on: date | None
    open_group: str | None
    schedule_id: int | None

    def is_open(self, today: date) -> bool:
        return self.source == "pulse" and (self.closes_on is None or today <= self.closes_on)

    def group_name(self, gid: str) -> str:
        return str(self.questions.get(gid, {}).get("name", gid))


@dataclass(frozen=True)
class AnswerRow:
    campaign_id: int
    group: str
    answered_on: date
    scores: dict[str, float]
    recommend: int | None
    comment: str | None


_CAMPAIGN = [pulse_campaigns.c[k] for k in (
    "id", "organisation", "service_id", "service_name", "groups", "questions", "source",
    "package", "created_at", "created_by", "closes_on", "open_group", "schedule_id")]


def _campaign_of(row: Sequence[Any]) -> Campaign:
    """A campaign from the columns of :data:`_CAMPAIGN`, in their order."""
    return Campaign(row[0], row[1], row[2], row[3], tuple(row[4]), dict(row[5]), *row[6:13])


def _lock(engine: Engine) -> threading.Lock:
    with _locks_guard:
        lock = _locks.get(engine)
        if lock is None:
            # Write-ahead logging: readers (the form, the results) never wait for a writer,
            # and a commit is one append. Persistent in the file; a no-op in memory. Set
            # before the engine counts as done: when another process holds the file locked
            # the switch fails (the caller's guard says so) and the next call tries again.
            with engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA journal_mode=WAL")
            event.listen(engine, "connect", _busy_timeout)
            lock = _locks[engine] = threading.Lock()
        return lock


def _busy_timeout(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")
    cursor.close()


def sqlite_lock(store: Store, action: str) -> threading.Lock | None:
    """On SQLite, the engine's writers' lock, with WAL and the busy timeout set once; None on
    PostgreSQL. Inside the store's guard: a file another process holds locked is a
    StoreError that says so (exit 3), not a traceback."""
    if store.engine.dialect.name != "sqlite":
        return None
    with store._guard(action):
        return _lock(store.engine)


@contextmanager
def _core(store: Store, action: str) -> Iterator[Connection]:
    """A connection for Core reads: what every check reads here (its check-ins and their
    answers) never imports or configures the ORM (issue 16)."""
    sqlite_lock(store, action)
    with store._guard(action), store.engine.connect() as conn:
        yield conn


def campaigns(store: Store, service_id: str | None = None,
              organisation: str | None = None) -> list[Campaign]:
    """Check-ins, newest first."""
    camp = pulse_campaigns.c
    query = select(*_CAMPAIGN).order_by(camp.created_at.desc(), camp.id.desc())
    if service_id is not None:
        query = query.where(camp.service_id == service_id)
    if organisation is not None:
        query = query.where(camp.organisation == organisation)
    with _core(store, "list the check-ins in") as conn:
        return [_campaign_of(row) for row in conn.execute(query)]


def answers(store: Store, campaign_ids: list[int] | None = None) -> list[AnswerRow]:
    a = pulse_answers.c
    query = select(a.campaign_id, a.group_id, a.answered_on, a.scores, a.recommend,
                   a.comment).order_by(a.id)
    if campaign_ids is not None:
        query = query.where(a.campaign_id.in_(campaign_ids))
    with _core(store, "read the answers in") as conn:
        return [AnswerRow(c, g, day, dict(scores), recommend, comment)
                for c, g, day, scores, recommend, comment in conn.execute(query)]
