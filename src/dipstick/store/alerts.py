"""The alert log in the app database: events, their deliveries, and the pending queue.

Kept beside the runs (same database, same migrations) so one backup holds the whole history
and an event can name the run that raised it. The guarantees live in the schema and in short
transactions: events and their deliveries are written together or not at all; unique keys
refuse a second announcement of one leak episode and a second delivery row per target; a
delivery is *claimed* (``pending`` → ``sending``) by a conditional update before it is sent,
so two runs at once never both send it, and it becomes ``sent`` only after the receiver took it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import sessionmaker

from dipstick.store import Store
from dipstick.store.tables import AlertDelivery, AlertEvent

# The event records are the log's own: :mod:`dipstick.alerts.events` decides which to log.
LEAK = "leak"
RESOLVED = "resolved"
OVERDUE = "overdue"   # a consuming group not asked for too long (docs/pulse.md)

Pair = tuple[str, str]   # (service id, cause)


@dataclass(frozen=True)
class LatestEvent:
    """The newest logged event of one (service, cause): its kind, episode and details."""

    kind: str
    episode: int
    details: Mapping[str, Any]

    @property
    def open(self) -> bool:
        return self.kind == LEAK


@dataclass(frozen=True)
class NewEvent:
    """An event to log: a leak began (a new episode) or the open episode ended."""

    service_id: str
    cause: str
    episode: int
    kind: str
    details: dict[str, Any]


PENDING, SENDING, SENT = "pending", "sending", "sent"
# A claim older than this belongs to a run that died mid-send; the delivery is retried (the
# one ambiguous case: the receiver may have taken it just before the crash).
STALE_CLAIM = timedelta(minutes=15)


@dataclass(frozen=True)
class Delivery:
    """One event to one target, with what is needed to (re)build and send its message."""

    id: int
    event_id: int
    run_id: int
    created_at: datetime
    kind: str
    service_id: str
    cause: str
    target: str
    target_type: str
    status: str
    attempts: int
    last_error: str | None
    last_attempt_at: datetime | None
    sent_at: datetime | None
    details: dict[str, Any]


class AlertLog:
    """Reads and writes the alert tables of one :class:`Store`."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._session = sessionmaker(store.engine, expire_on_commit=False)

    def latest(self, organisation: str) -> dict[Pair, LatestEvent]:
        """The newest event of every (service, cause) of the organisation: the open leaks are
        those whose newest event is a ``leak``."""
        newest = (select(func.max(AlertEvent.id))
                  .where(AlertEvent.organisation == organisation)
                  .group_by(AlertEvent.service_id, AlertEvent.cause))
        query = select(AlertEvent).where(AlertEvent.id.in_(newest))
        with self.store._guard("read the alert log in"), self._session() as session:
            return {(e.service_id, e.cause): LatestEvent(e.kind, e.episode, e.details)
                    for e in session.scalars(query)}

    def record(self, run_id: int, organisation: str, events: Sequence[NewEvent],
               targets: Iterable[tuple[str, str]], now: datetime) -> list[int]:
        """Log the events with one pending delivery per (target name, type), atomically."""
        targets = list(targets)
        with self.store._guard("record alerts in"), self._session.begin() as session:
            rows = [AlertEvent(run_id=run_id, created_at=now, organisation=organisation,
                               service_id=e.service_id, cause=e.cause, episode=e.episode,
                               kind=e.kind, details=e.details,
                               deliveries=[AlertDelivery(target=key, target_type=kind,
                                                         status=PENDING, attempts=0,
                                                         created_at=now)
                                           for key, kind in targets])
                    for e in events]
            session.add_all(rows)
            session.flush()
            return [r.id for r in rows]

    def pending(self, now: datetime) -> list[Delivery]:
        """Every delivery not yet sent (oldest first), including stale claims."""
        query = self._query().where(or_(
            AlertDelivery.status == PENDING,
            (AlertDelivery.status == SENDING) & (AlertDelivery.last_attempt_at < now - STALE_CLAIM),
        )).order_by(AlertDelivery.id)
        return self._run(query, "read pending alerts in")

    def claim(self, delivery: Delivery, now: datetime) -> bool:
        """Take the delivery for this run; False when another run has taken or sent it."""
        stmt = (update(AlertDelivery)
                .where(AlertDelivery.id == delivery.id, AlertDelivery.status == delivery.status,
                       AlertDelivery.attempts == delivery.attempts)
                .values(status=SENDING, last_attempt_at=now,
                        attempts=AlertDelivery.attempts + 1))
        with self.store._guard("claim an alert in"), self.store.engine.begin() as conn:
            return conn.execute(stmt).rowcount == 1

    def finish(self, delivery_id: int, now: datetime, error: str | None) -> None:
        """``sent`` when the receiver took it, else back to ``pending`` with the reason."""
        values: dict[str, Any] = ({"status": SENT, "sent_at": now, "last_error": None}
                                  if error is None else {"status": PENDING, "last_error": error})
        stmt = update(AlertDelivery).where(AlertDelivery.id == delivery_id).values(**values)
        with self.store._guard("update an alert in"), self.store.engine.begin() as conn:
            conn.execute(stmt)

    def deliveries(self, limit: int = 50, status: str | None = None) -> list[Delivery]:
        """The latest deliveries, newest first, optionally only one status."""
        query = self._query().order_by(AlertDelivery.id.desc()).limit(limit)
        if status is not None:
            query = query.where(AlertDelivery.status == status)
        return self._run(query, "list the alerts in")

    def _query(self) -> Any:
        return select(AlertDelivery, AlertEvent).join(AlertEvent)

    def _run(self, query: Any, action: str) -> list[Delivery]:
        with self.store._guard(action), self._session() as session:
            return [Delivery(d.id, e.id, e.run_id, e.created_at, e.kind, e.service_id, e.cause,
                             d.target, d.target_type, d.status, d.attempts, d.last_error,
                             d.last_attempt_at, d.sent_at, e.details)
                    for d, e in session.execute(query)]
