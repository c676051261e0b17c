"""After a run is stored: reopen the done actions whose leak came back (docs/actions.md).

Apart from :mod:`dipstick.store.actions` because most stored checks have no done action at all,
and finding that out is one Core query: the actions' repository (ORM sessions and mapped
classes, ~0.2 s of CPU to import with SQLAlchemy's ORM) is imported only when there is one.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from dipstick.actions import DONE
from dipstick.store import Store
from dipstick.store.core import actions


def settle(store: Store, now: datetime | None = None) -> list[int]:
    """:func:`dipstick.store.actions.settle` when a done action exists; else nothing to do
    (the reopened ids, as it returns them)."""
    status = actions.c.status
    with store._guard("settle the actions in"), store.engine.connect() as conn:
        if conn.execute(select(status).where(status == DONE).limit(1)).first() is None:
            return []
    from dipstick.store.actions import settle as reopen

    return reopen(store, now)
