"""The real PostgreSQL for tests: find it, or skip (or fail, when CI demands it).

Each test gets its own freshly created schema, reached through ``search_path`` in the URL, so
parallel runs (pytest-xdist, two developers on one server) never see each other's tables.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.exc import SQLAlchemyError

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def postgres_url() -> str:
    """The test server's URL, after checking it answers; skips the test if it does not,
    unless ``DIPSTICK_REQUIRE_POSTGRES=1`` makes a missing server a failure."""
    url = os.environ.get("DIPSTICK_TEST_POSTGRES_URL") or DEFAULT_POSTGRES_URL
    engine = create_engine(url, connect_args={"connect_timeout": 5})
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError as e:
        shown = make_url(url).render_as_string(hide_password=True)
        message = f"PostgreSQL not reachable at {shown}: {str(e).splitlines()[0]}"
        if os.environ.get("DIPSTICK_REQUIRE_POSTGRES") == "1":
            pytest.fail(message)
        pytest.skip(message)
    finally:
        engine.dispose()
    return url


@contextmanager
def postgres_schema() -> Iterator[str]:
    """A URL whose connections live in a new empty schema, dropped with everything in it after."""
    url = postgres_url()
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        scoped = make_url(url).update_query_dict({"options": f"-csearch_path={schema}"})
        yield scoped.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


# the app database's two backends, as a parameter list (PostgreSQL marked: it may be missing)
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@contextmanager
def app_database(backend: str, folder: Path) -> Iterator[str]:
    """The URL of an empty app database: a SQLite file in ``folder``, or a scratch PostgreSQL
    schema (dropped after)."""
    if backend == "sqlite":
        yield f"sqlite:///{folder / 'app.db'}"
    else:
        with postgres_schema() as scoped:
            yield scoped
