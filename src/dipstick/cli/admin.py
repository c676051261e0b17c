"""The operator's commands: ``dipstick audit`` (the audit trail), ``dipstick backup`` and
``dipstick restore`` (the app database). Thin edges over :mod:`dipstick.store.audit_log` and
:mod:`dipstick.store.backup`; exit 2 on a bad option, 3 when the database fails."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from dipstick.cli.app import (
    DatabaseOpt,
    FormatOpt,
    _check_format,
    _fail,
    _print_json,
    app,
    err,
    open_store,
    out,
)
from dipstick.errors import DipstickError, UsageError

FileArg = Annotated[Path, typer.Argument(help="The backup file.")]


@app.command()
def audit(
    database: DatabaseOpt = None,
    fmt: FormatOpt = "table",
    since: Annotated[datetime | None, typer.Option(
        formats=["%Y-%m-%d"], help="Entries from this day (UTC) on.")] = None,
    user: Annotated[str | None, typer.Option(
        help="Whose entries: an e-mail, or the OS user of a command.")] = None,
    action: Annotated[str | None, typer.Option(
        help="An action (sign-in, check, user.create…) or its family (user).")] = None,
    limit: Annotated[int, typer.Option(help="At most this many entries (1–500).")] = 100,
    offset: Annotated[int, typer.Option(help="Skip this many (newest first).")] = 0,
    prune: Annotated[bool, typer.Option(
        "--prune", help="Delete the entries older than DIPSTICK_AUDIT_DAYS, then list.")] = False,
) -> None:
    """The audit trail, newest first: who signed in (or failed to), uploaded a package, ran a
    check, changed an action or a user — when (UTC), from where, what."""
    from dipstick.store.audit_log import Query, entries
    from dipstick.store.audit_log import prune as prune_old

    _check_format(fmt)
    with open_store(database, fmt) as store:
        try:
            if prune:
                err.print(f"Deleted {prune_old(store)} entries past the retention.")
            query = Query(since.replace(tzinfo=UTC) if since else None, user, action, limit,
                          offset)
            found, total = entries(store, query)
        except DipstickError as e:
            raise _fail(e, fmt) from None
    if fmt == "json":
        _print_json({"entries": [entry.to_json() for entry in found], "total": total})
        return
    for entry in found:
        detail = " ".join(f"{k}={v}" for k, v in entry.detail.items())
        out.print(f"{entry.at:%Y-%m-%d %H:%M:%S}\t{entry.actor}\t{entry.source}\t"
                  f"{entry.action}\t{entry.target}\t{detail}", markup=False)
    err.print(f"{len(found)} of {total} entries")


@app.command()
def backup(file: FileArg, database: DatabaseOpt = None) -> None:
    """Back up the app database to FILE: a consistent SQLite copy while the app runs, or
    pg_dump's custom format for PostgreSQL (needs pg_dump)."""
    from dipstick.database import sqlite_file_missing
    from dipstick.store import Store
    from dipstick.store.backup import backup as write_backup

    try:
        if sqlite_file_missing(database):
            raise UsageError("there is no app database to back up here (no dipstick.db; "
                             "--database or DIPSTICK_DATABASE_URL names another)")
        with Store.open(database) as store:
            write_backup(store, file)
            out.print(f"Backed up {store.url} to {file}.", markup=False)
    except DipstickError as e:
        raise _fail(e, "table") from None


@app.command()
def restore(
    file: FileArg,
    database: DatabaseOpt = None,
    force: Annotated[bool, typer.Option(
        "--force", help="Replace a database that holds data.")] = False,
) -> None:
    """Replace the app database with the backup FILE, then upgrade it to this dipstick's
    schema. Refused (exit 2) when the database holds data (without --force) or when a newer
    dipstick wrote the backup."""
    from dipstick.store import Store
    from dipstick.store.backup import restore as read_backup

    try:
        with Store.open(database) as store:
            revision = read_backup(store, file, force)
            store.migrate()
            out.print(f"Restored {file} (schema {revision or 'empty'}) into {store.url}; "
                      f"now at schema {store.revision()}.", markup=False)
    except DipstickError as e:
        raise _fail(e, "table") from None
