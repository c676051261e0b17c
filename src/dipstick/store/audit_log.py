"""The audit trail read and kept in bounds: listing with filters and paging (``dipstick
audit``, the admins' ``/audit`` page), pruning past ``DIPSTICK_AUDIT_DAYS``, and recording what
is no database change in a transaction of its own. :mod:`dipstick.store.audit` writes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from dipstick.errors import UsageError
from dipstick.store import Store
from dipstick.store.audit import COLUMNS, Actor, keep_days, record
from dipstick.store.tables import AuditEntry

MAX_PAGE = 500         # entries per listing
MAX_OFFSET = 1_000_000   # a listing's offset: bounded, so no query skips billions of rows


@dataclass(frozen=True)
class Entry:
    """One line of the trail, as listed."""

    id: int
    at: datetime
    actor: str
    source: str
    action: str
    target: str
    detail: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "at": self.at.isoformat(), "actor": self.actor,
                "source": self.source, "action": self.action, "target": self.target,
                "detail": self.detail}


def record_alone(store: Store, actor: Actor | None, action: str, target: str = "",
                 detail: dict[str, Any] | None = None) -> None:
    """:func:`record` in a transaction of its own, for what is not a database change (a
    sign-in, a failed one, a zip stored on disk)."""
    with store._guard("record an audit entry in"), store.engine.begin() as conn:
        record(conn, actor, action, target, detail)


def prune(store: Store, now: datetime | None = None) -> int:
    """Delete the entries older than the retention; how many were."""
    cutoff = (now or datetime.now(UTC)) - timedelta(days=keep_days())
    with store._guard("prune the audit trail in"), store.engine.begin() as conn:
        return conn.execute(delete(AuditEntry).where(COLUMNS.at < cutoff)).rowcount or 0


@dataclass(frozen=True)
class Query:
    """A listing's filters: since when, whose, which action (a prefix: ``user`` matches
    ``user.create``), how many and from where."""

    since: datetime | None = None
    actor: str | None = None
    action: str | None = None
    limit: int = 100
    offset: int = 0

    def __post_init__(self) -> None:
        if not 1 <= self.limit <= MAX_PAGE:
            raise UsageError(f"limit must be from 1 to {MAX_PAGE}, not {self.limit}")
        if not 0 <= self.offset <= MAX_OFFSET:
            raise UsageError(f"offset must be from 0 to {MAX_OFFSET:,}, not {self.offset}")


def entries(store: Store, query: Query) -> tuple[list[Entry], int]:
    """The entries matching ``query``, newest first, and how many match in all."""
    where = []
    if query.since is not None:
        where.append(COLUMNS.at >= query.since)
    if query.actor:
        where.append(func.lower(COLUMNS.actor) == query.actor.strip().lower())
    if query.action:
        where.append((COLUMNS.action == query.action)
                     | COLUMNS.action.startswith(query.action + ".", autoescape=True))
    page = (select(AuditEntry).where(*where).order_by(COLUMNS.at.desc(), COLUMNS.id.desc())
            .limit(query.limit).offset(query.offset))
    with store._guard("read the audit trail in"), Session(store.engine) as s:
        total = s.scalar(select(func.count()).select_from(AuditEntry).where(*where)) or 0
        found = [Entry(e.id, e.at, e.actor, e.source, e.action, e.target, e.detail)
                 for e in s.scalars(page)]
    return found, total
