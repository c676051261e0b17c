"""Backup and restore of the app database (``dipstick backup`` / ``dipstick restore``).

SQLite: SQLite's online backup API (``sqlite3.Connection.backup``) copies the database in one
step under a read lock, so the copy is consistent while the web app or a check writes (each
write waits for the copy, or the copy for it); it is written beside the target and renamed
into place, so a failed backup leaves no half file. PostgreSQL: ``pg_dump --format=custom`` of
the database's schema (the one its ``search_path`` names), restored through ``pg_restore``'s
SQL run by ``psql --single-transaction``: the old tables are dropped and the backup loaded in
one transaction, so a failed restore changes nothing.

A restore refuses (exit 2) to replace a database that holds data unless forced, and a backup
whose schema revision this dipstick does not know (a newer dipstick wrote it): the app would
not understand its tables. An older one is upgraded by the next ``migrate``.
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import URL

from dipstick.errors import StoreError, UsageError
from dipstick.store import MIGRATIONS, Store

VERSION_TABLE = "alembic_version"
PG_TOOLS = ("pg_dump", "pg_restore", "psql")
PG_TIMEOUT_S = 3600


def known_revisions() -> set[str]:
    """Every schema revision this dipstick ships."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return {s.revision for s in ScriptDirectory.from_config(config).walk_revisions()}


def backup(store: Store, target: Path) -> None:
    """Write a consistent copy of the app database to ``target`` (replaced if there)."""
    try:
        if store.engine.dialect.name == "sqlite":
            _sqlite_backup(_sqlite_path(store), target)
        else:
            _pg_backup(store, target)
    except OSError as e:   # a folder that cannot be written, a full disk
        raise UsageError(f"cannot write the backup {target}: {e.strerror or e}") from None


def restore(store: Store, source: Path, force: bool = False) -> str | None:
    """Replace the app database with the backup ``source``; the backup's schema revision.
    Refused (UsageError) when the database holds data and ``force`` is not given, or when the
    backup's revision is unknown to this dipstick."""
    if not source.is_file():
        raise UsageError(f"{source}: no such backup file")
    sqlite = store.engine.dialect.name == "sqlite"
    revision = _sqlite_revision(source) if sqlite else _pg_revision(source)
    if revision is not None and revision not in known_revisions():
        raise UsageError(f"{source}: the backup is at schema revision {revision!r}, which this "
                         "dipstick does not know (a newer dipstick wrote it): restore it with "
                         "that version or a later one")
    if not force and (rows := _rows(store)):
        raise UsageError(f"the app database at {store.url} holds data ({rows}): restore "
                         "replaces all of it; add --force to do so")
    if sqlite:
        _sqlite_restore(source, _sqlite_path(store))
    else:
        _pg_restore(store, source)
    store.engine.dispose()   # pooled connections may hold the old schema's state
    return revision


def _rows(store: Store) -> str:
    """Which tables hold rows, e.g. ``runs 3, users 1`` ('' when none does)."""
    with store._guard("read"), store.engine.connect() as conn:
        tables = [t for t in inspect(conn).get_table_names() if t != VERSION_TABLE]
        counts = {t: conn.scalar(text(f'SELECT count(*) FROM "{t}"')) or 0 for t in tables}
    return ", ".join(f"{t} {n}" for t, n in sorted(counts.items()) if n)


# --- SQLite -----------------------------------------------------------------------------------

def _sqlite_path(store: Store) -> Path:
    name = store.engine.url.database
    if not name or name == ":memory:" or name.startswith("file:"):
        raise UsageError(f"the app database at {store.url} is not a SQLite file")
    return Path(name)


def _sqlite_backup(source: Path, target: Path) -> None:
    with _beside(target) as part:
        try:
            with closing(sqlite3.connect(f"file:{source}?mode=ro", uri=True)) as src, \
                    closing(sqlite3.connect(part)) as dst:
                src.backup(dst)   # one step: a snapshot under one read lock
        except sqlite3.Error as e:
            raise StoreError(f"cannot back up {source} to {target}: {e}") from e


def _sqlite_restore(source: Path, target: Path) -> None:
    try:
        with closing(sqlite3.connect(f"file:{source}?mode=ro", uri=True)) as src, \
                closing(sqlite3.connect(target, timeout=30)) as dst:
            src.backup(dst)   # the target is rewritten in one transaction of its own
    except sqlite3.Error as e:
        raise StoreError(f"cannot restore {source} into {target}: {e}") from e


def _sqlite_revision(source: Path) -> str | None:
    try:
        with closing(sqlite3.connect(f"file:{source}?mode=ro", uri=True)) as conn:
            found = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND "
                                 "name = ?", (VERSION_TABLE,)).fetchone()
            row = conn.execute(f"SELECT version_num FROM {VERSION_TABLE}").fetchone() \
                if found else None
    except sqlite3.DatabaseError as e:
        raise UsageError(f"{source}: not a SQLite backup of an app database ({e})") from None
    return str(row[0]) if row else None


@contextmanager
def _beside(target: Path) -> Iterator[Path]:
    """A temporary file next to ``target``, renamed onto it when the block succeeds."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    os.close(fd)
    part = Path(name)
    try:
        yield part
        os.replace(part, target)
    finally:
        part.unlink(missing_ok=True)


# --- PostgreSQL -------------------------------------------------------------------------------

def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise UsageError(f"{name} is not installed: backups of a PostgreSQL app database need "
                         "the PostgreSQL client programs (pg_dump, pg_restore, psql; Debian: "
                         "apt-get install postgresql-client)")
    return found


def _pg_args(store: Store) -> tuple[list[str], dict[str, str]]:
    """libpq connection options for the tools (the password in the environment, never on a
    command line another user could read)."""
    url: URL = store.engine.url
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    args = [f"--dbname={url.database or ''}"]
    if url.host:
        args.append(f"--host={url.host}")
    if url.port:
        args.append(f"--port={url.port}")
    if url.username:
        args.append(f"--username={url.username}")
    return args, env


def _schema(store: Store) -> str:
    with store._guard("read the schema of"), store.engine.connect() as conn:
        return str(conn.scalar(text("SELECT current_schema()")))


def _run(args: list[str], env: dict[str, str], what: str, stdin: bytes | None = None) -> bytes:
    done = subprocess.run(args, env=env, input=stdin, capture_output=True,
                          timeout=PG_TIMEOUT_S, check=False)
    if done.returncode != 0:
        reason = done.stderr.decode(errors="replace").strip().splitlines()
        said = " ".join(reason[-3:]) or f"exit {done.returncode}"
        raise StoreError(f"{what} failed: {said}")
    return done.stdout


def _pg_backup(store: Store, target: Path) -> None:
    args, env = _pg_args(store)
    with _beside(target) as part:
        _run([_tool("pg_dump"), *args, "--format=custom", "--no-owner", "--no-privileges",
              f"--schema={_schema(store)}", f"--file={part}"], env, "pg_dump")


def _pg_revision(source: Path) -> str | None:
    """The revision in the backup's ``alembic_version`` (its COPY data, read by pg_restore)."""
    script = _run([_tool("pg_restore"), "--data-only", f"--table={VERSION_TABLE}",
                   "--file=-", str(source)], dict(os.environ),
                  f"pg_restore of {source} (is it a dipstick backup?)").decode()
    found = re.search(rf"COPY \S*{VERSION_TABLE} \(version_num\) FROM stdin;\n(\S+)\n", script)
    return found.group(1) if found else None


def _pg_restore(store: Store, source: Path) -> None:
    """Drop the schema's tables and load the backup, in one transaction (psql)."""
    schema = _schema(store)
    listing = _run([_tool("pg_restore"), "--list", str(source)], dict(os.environ),
                   f"pg_restore --list {source}").decode()
    dumped = set(re.findall(r"^\d+; \d+ \d+ SCHEMA - (\S+) ", listing, re.M))
    if dumped and dumped != {schema}:
        raise UsageError(f"{source} is a backup of schema {', '.join(sorted(dumped))}; this "
                         f"database uses schema {schema}: restore it where it was taken")
    # everything but the schema itself, which exists here already
    keep = "\n".join(line for line in listing.splitlines() if " SCHEMA - " not in line)
    with tempfile.NamedTemporaryFile("w", suffix=".list") as chosen:
        chosen.write(keep)
        chosen.flush()
        sql = _run([_tool("pg_restore"), "--no-owner", "--no-privileges", f"-L{chosen.name}",
                    "--file=-", str(source)], dict(os.environ), f"pg_restore of {source}")
    with store._guard("list the tables of"), store.engine.connect() as conn:
        tables = inspect(conn).get_table_names()
    drop = "".join(f'DROP TABLE IF EXISTS "{schema}"."{t}" CASCADE;\n' for t in tables)
    args, env = _pg_args(store)
    _run([_tool("psql"), *args, "--no-psqlrc", "--quiet", "--single-transaction",
          "--set=ON_ERROR_STOP=1", "--file=-"], env, "psql (the restore)",
         stdin=drop.encode() + sql)
