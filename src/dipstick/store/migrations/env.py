"""Alembic environment for the app database.

dipstick runs migrations from code (``Store.migrate``), handing over its live connection in
``config.attributes["connection"]`` so an in-memory SQLite database or a PostgreSQL schema
chosen by ``search_path`` is migrated on the very connection that will use it. Without one
(the ``alembic`` command line), it connects to ``sqlalchemy.url``.
"""

from __future__ import annotations

from typing import Any, Literal

from alembic import context
from sqlalchemy import Connection, create_engine, pool

from dipstick.store import pulse_tables, tables  # noqa: F401  (every table in the metadata)
from dipstick.store.schema import Base, UTCDateTime

config = context.config
target_metadata = Base.metadata


def render_item(kind: str, obj: Any, autogen_context: Any) -> str | Literal[False]:
    """Write our UTC timestamp type as the plain type it stores, so migrations stay free of
    imports from the package (a migration must not change when the models do)."""
    if kind == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _configure(**kw: Any) -> None:
    context.configure(target_metadata=target_metadata, render_item=render_item,
                      compare_type=True, render_as_batch=True, **kw)


def run_offline() -> None:
    _configure(url=config.get_main_option("sqlalchemy.url"), literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_on(connection: Connection) -> None:
    _configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        run_on(connection)
        return
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("set sqlalchemy.url (or pass a connection) to run migrations")
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as conn:
        run_on(conn)
    engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
