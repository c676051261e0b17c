"""A new SQLite app database gets 32 KB pages (``store.SQLITE_PAGE_SIZE``: storing a large run
costs less there); a database made before keeps its own pages and stores and reads the same."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from dipstick.check import CheckResult
from dipstick.store import SQLITE_PAGE_SIZE, Store

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def page_size(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return int(conn.execute("PRAGMA page_size").fetchone()[0])


def stored_and_read(url: str, result: CheckResult) -> dict[str, object]:
    with Store.open(url) as store:
        store.migrate()
        run_id = store.save_run(result, started_at=NOW, finished_at=NOW, command="check")
        return store.load_run(run_id)


def test_a_new_database_has_large_pages_and_an_older_one_keeps_its_own(
        demo_result: CheckResult, tmp_path: Path) -> None:
    new, old = tmp_path / "new.db", tmp_path / "old.db"
    with sqlite3.connect(old) as conn:            # as SQLite made every file before
        conn.execute("PRAGMA page_size=4096")
        conn.execute("CREATE TABLE made_before (x INTEGER)")
    assert SQLITE_PAGE_SIZE != 4096
    read_new = stored_and_read(f"sqlite:///{new}", demo_result)
    read_old = stored_and_read(f"sqlite:///{old}", demo_result)
    assert page_size(new) == SQLITE_PAGE_SIZE
    assert page_size(old) == 4096
    assert read_new == read_old and len(read_new["services"]) == len(demo_result.verdicts)  # type: ignore[arg-type]
