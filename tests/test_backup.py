"""``dipstick backup`` / ``dipstick restore`` of the app database (issue 17, item 6): a round
trip on SQLite and PostgreSQL with nothing lost; a SQLite backup taken while another thread
writes is consistent; restore refuses a database with data (without ``--force``) and a backup
from a newer schema; a missing pg_dump is a clear exit 2.
"""

from __future__ import annotations

import sqlite3
import threading
from contextlib import closing
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import inspect, text

from dipstick.store import Store
from dipstick.store.audit import Actor
from dipstick.store.audit_log import Query, entries
from dipstick.store.users import authenticate, create_token, create_user, token_account
from test_store import T0, normalised, result, save

from clirun import dipstick
from db import postgres_schema

PASSWORD = "a-long-backup-password"



def seed(url: str) -> dict[str, Any]:
    """A run, a user with a token and their audit entries; what should come back."""
    with Store.open(url) as store:
        store.migrate()
        run_id = save(store, result())
        create_user(store, "ann@example.org", PASSWORD, "leader", actor=Actor("root", "cli"))
        token = create_token(store, "ann@example.org", "ci").token
        return {"run_id": run_id, "run": normalised(store.load_run(run_id)), "token": token}


def assert_restored(url: str, seeded: dict[str, Any]) -> None:
    with Store.open(url) as store:
        assert normalised(store.load_run(seeded["run_id"])) == seeded["run"]
        assert [r.id for r in store.runs()] == [seeded["run_id"]]
        who = authenticate(store, "ann@example.org", PASSWORD)
        assert who is not None and who.role == "leader"
        assert token_account(store, seeded["token"]) == who
        assert [e.action for e in entries(store, Query())[0]] == ["user.create"]


def empty_the(url: str) -> None:
    """Lose every table (a wiped disk, a dropped schema)."""
    with Store.open(url) as store, store.engine.begin() as conn:
        for table in inspect(conn).get_table_names():
            conn.execute(text(f'DROP TABLE "{table}" CASCADE' if conn.dialect.name ==
                              "postgresql" else f'DROP TABLE "{table}"'))


def test_backup_and_restore_round_trip(url: str, tmp_path: Path) -> None:
    seeded = seed(url)
    file = tmp_path / "backup" / "app.backup"
    made = dipstick("backup", file, "--database", url)
    assert made.returncode == 0, made.stderr
    assert file.is_file() and not list(file.parent.glob(".*"))   # no temporary left
    empty_the(url)
    back = dipstick("restore", file, "--database", url)
    assert back.returncode == 0, back.stderr + back.stdout
    assert "Restored" in back.stdout
    assert_restored(url, seeded)


def test_restore_refuses_a_database_with_data_unless_forced(url: str, tmp_path: Path) -> None:
    seeded = seed(url)
    file = tmp_path / "app.backup"
    assert dipstick("backup", file, "--database", url).returncode == 0
    with Store.open(url) as store:
        later = save(store, result(leaking=False), T0 + timedelta(days=1))
    refused = dipstick("restore", file, "--database", url)
    assert refused.returncode == 2 and "--force" in refused.stderr
    assert "runs 2" in refused.stderr
    with Store.open(url) as store:   # nothing changed
        assert {r.id for r in store.runs()} == {seeded["run_id"], later}
    forced = dipstick("restore", file, "--database", url, "--force")
    assert forced.returncode == 0, forced.stderr + forced.stdout
    assert_restored(url, seeded)


def test_a_backup_from_a_newer_schema_is_refused(url: str, tmp_path: Path) -> None:
    seed(url)
    with Store.open(url) as store, store.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    file = tmp_path / "app.backup"
    assert dipstick("backup", file, "--database", url).returncode == 0
    empty_the(url)
    refused = dipstick("restore", file, "--database", url, "--force")
    assert refused.returncode == 2 and "'9999'" in refused.stderr, refused.stderr
    assert "newer dipstick" in refused.stderr
    with Store.open(url) as store, store.engine.connect() as conn:
        assert inspect(conn).get_table_names() == []   # nothing restored


def test_bad_arguments_are_exit_2(tmp_path: Path) -> None:
    missing = f"sqlite:///{tmp_path / 'none.db'}"
    nothing = dipstick("backup", tmp_path / "x.backup", "--database", missing)
    assert nothing.returncode == 2 and "no app database" in nothing.stderr
    assert not (tmp_path / "none.db").exists()
    url = f"sqlite:///{tmp_path / 'app.db'}"
    seed(url)
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    cannot = dipstick("backup", blocked / "x.backup", "--database", url)
    assert cannot.returncode == 2 and "cannot write the backup" in cannot.stderr
    gone = dipstick("restore", tmp_path / "absent.backup", "--database", url)
    assert gone.returncode == 2 and "no such backup" in gone.stderr
    junk = tmp_path / "junk.backup"
    junk.write_bytes(b"not a database at all" * 100)
    bad = dipstick("restore", junk, "--database", url, "--force")
    assert bad.returncode == 2 and "not a SQLite backup" in bad.stderr


@pytest.mark.postgres
def test_without_pg_dump_a_postgresql_backup_says_so(tmp_path: Path) -> None:
    with postgres_schema() as url:
        seed(url)
        ran = dipstick("backup", tmp_path / "pg.backup", "--database", url,
                       env={"PATH": str(tmp_path)})
    assert ran.returncode == 2 and "pg_dump is not installed" in ran.stderr


@pytest.mark.postgres
def test_a_postgresql_backup_restores_only_where_it_was_taken(tmp_path: Path) -> None:
    file = tmp_path / "pg.backup"
    with postgres_schema() as url:
        seed(url)
        assert dipstick("backup", file, "--database", url).returncode == 0
    with postgres_schema() as other:
        ran = dipstick("restore", file, "--database", other)
        assert ran.returncode == 2 and "backup of schema" in ran.stderr


def test_a_sqlite_backup_while_another_thread_writes_is_consistent(tmp_path: Path) -> None:
    """A writer stores runs (each a run row, its service rows and their findings, in one
    transaction) without pause; backups taken meanwhile hold whole runs only and pass
    SQLite's integrity check."""
    url = f"sqlite:///{tmp_path / 'app.db'}"
    seed(url)
    stop, written = threading.Event(), threading.Semaphore(0)
    failures: list[BaseException] = []

    def write() -> None:
        try:
            with Store.open(url) as store:
                while not stop.is_set():
                    save(store, result())
                    written.release()
        except BaseException as e:   # the test must see it, not a silent thread
            failures.append(e)
            written.release()

    writer = threading.Thread(target=write)
    writer.start()
    try:
        backups = []
        for i in range(3):
            for _ in range(3):   # three more runs stored before each backup: truly concurrent
                assert written.acquire(timeout=120), "the writer stopped"
            backups.append(tmp_path / f"b{i}.backup")
            assert dipstick("backup", backups[-1], "--database", url).returncode == 0
    finally:
        stop.set()
        writer.join()
    assert not failures, failures
    counts = []
    for b in backups:
        with closing(sqlite3.connect(b)) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
            runs = conn.execute("SELECT id, services_count FROM runs").fetchall()
            per_run = dict(conn.execute("SELECT run_id, count(*) FROM service_results "
                                        "GROUP BY run_id").fetchall())
            findings = conn.execute(
                "SELECT count(*) FROM findings f JOIN service_results s "
                "ON f.service_result_id = s.id").fetchone()[0]
        assert all(per_run.get(run_id) == n for run_id, n in runs), (runs, per_run)
        assert findings == 5 * len(runs)   # crm 3 causes + hr 2: whole runs only
        counts.append(len(runs))
    assert counts == sorted(counts) and counts[0] >= 4
