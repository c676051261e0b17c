"""Where the app database is, found without opening it.

Why apart from :mod:`dipstick.store`: a check that stores nothing must not pay for SQLAlchemy
and Alembic (issue 16), yet it has to know whether an app database exists to read its pulse
answers and self-assessments from. Reading the URL needs no driver; opening it does.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

ENV_URL = "DIPSTICK_DATABASE_URL"
DEFAULT_FILE = "dipstick.db"


def default_url() -> str:
    """The URL used when none is given: ``$DIPSTICK_DATABASE_URL``, else ./dipstick.db."""
    from dipstick.settings import settings

    given = settings().database_url
    if given is None:
        return f"sqlite:///{Path.cwd() / DEFAULT_FILE}"
    problem = url_problem(given)
    if problem is not None:
        # a bad value in the environment is a bad input like a bad --database (exit 2), not a
        # database that cannot be reached (exit 3)
        from dipstick.errors import UsageError

        raise UsageError(f"{ENV_URL} {problem}")
    return given


def sqlite_file_missing(url: str | None = None) -> bool:
    """Whether the URL (default: :func:`default_url`) names a SQLite file that does not exist
    yet, so a reader that must not create one (opening would) can skip it. False for other
    databases and for URLs that do not parse (opening them reports the problem).

    Read with SQLAlchemy's own pattern (``tests/test_startup.py`` holds the two equal)."""
    match = _URL.match(url or default_url())
    if match is None or match["name"].split("+", 1)[0] != "sqlite":
        return False
    return not Path(unquote(match["database"] or "")).is_file()


def url_problem(url: str) -> str | None:
    """Why ``url`` cannot be a database URL at all (SQLAlchemy would refuse to parse it), or
    None; read without SQLAlchemy, for the CLI's ``--database`` before any work."""
    if _URL.match(url) is None:
        # the value is not echoed: a mistyped URL may still hold a password
        return ("is not a database URL: expected e.g. sqlite:///dipstick.db or "
                "postgresql+psycopg://user@host/db")
    return None


# SQLAlchemy 2.0's own URL pattern (sqlalchemy/engine/url.py, ``_parse_url``), so a URL names
# the same file here as when the store opens it.
_URL = re.compile(
    r"""
        (?P<name>[\w\+]+)://
        (?:
            (?P<username>[^:/]*)
            (?::(?P<password>[^@]*))?
        @)?
        (?:
            (?:
                \[(?P<ipv6host>[^/\?]+)\] |
                (?P<ipv4host>[^/:\?]+)
            )?
            (?::(?P<port>[^/\?]*))?
        )?
        (?:/(?P<database>[^\?]*))?
        (?:\?(?P<query>.*))?
    """,
    re.X,
)
