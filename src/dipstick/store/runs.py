"""Queries over the stored runs that the web pages list and compare (the only place outside
the ``Store`` class that reads the ``runs`` table, so every SQL statement stays in store/)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, func, or_, select

from dipstick.store import Store
from dipstick.store.tables import Run


def latest_two(store: Store) -> tuple[Any, Any]:
    """The newest run (started last, as the CLI lists them) and the one before it of the same
    organisation, as (id, started_at, as_of) rows, ``None`` when absent."""
    order = (Run.started_at.desc(), Run.id.desc())
    with store.engine.connect() as conn:
        latest = conn.execute(select(Run.id, Run.started_at, Run.as_of, Run.organisation)
                              .order_by(*order).limit(1)).first()
        if latest is None:
            return None, None
        previous = conn.execute(
            select(Run.id, Run.started_at, Run.as_of)
            .where(Run.organisation == latest.organisation,
                   or_(Run.started_at < latest.started_at,
                       and_(Run.started_at == latest.started_at, Run.id < latest.id)))
            .order_by(*order).limit(1)).first()
    return latest, previous


def run_page(store: Store, limit: int, offset: int) -> tuple[int, Sequence[Any]]:
    """How many runs are stored, and one page of their summaries, newest first."""
    with store.engine.connect() as conn:
        total: int = conn.execute(select(func.count()).select_from(Run)).scalar_one()
        rows = conn.execute(
            select(Run.id, Run.started_at, Run.finished_at, Run.command, Run.as_of,
                   Run.organisation, Run.package, Run.currency, Run.services_count,
                   Run.leak_count, Run.watch_count, Run.unknown_count, Run.ok_count,
                   Run.leak_money, Run.leak_hours)
            .order_by(Run.started_at.desc(), Run.id.desc()).offset(offset).limit(limit)).all()
    return total, rows
