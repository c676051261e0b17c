"""A ``kill -9`` of ``dipstick check`` while it stores its run leaves nothing half-written
(issue 17: the attack test's 29 kills of checks held; keep it so, as a test).

The kill lands inside the storing transaction every time, not by luck of timing: the test
locks the audit trail, the last table the run's transaction writes, waits until the check's
insert waits on that lock (after its run, results, findings and context rows), kills the
check, lets go, and finds no trace of the run; the next check stores a whole run. This is
PostgreSQL: SQLite's own commit is atomic (WAL), and the run's rows are one transaction on
both (``Store.save_run``), which is what this proves.
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from dipstick.store import Store

from builder import PackageBuilder
from db import postgres_schema

TABLES = ("runs", "service_results", "findings", "run_extras")
DEADLINE_S = 120.0


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("kill") / "pkg"
    return (PackageBuilder(root).healthy().satisfaction_step("crm", before=8.5, after=4.0)
            .write())


def start_check(package: Path, database: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "dipstick", "check", str(package),
                             "--database", database, "--format", "json"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def wait_until(condition: object, proc: subprocess.Popen[bytes], what: str) -> None:
    """Poll ``condition`` (a callable) until true; the check must still be running."""
    deadline = time.monotonic() + DEADLINE_S
    while not condition():   # type: ignore[operator]
        if proc.poll() is not None:
            raise AssertionError(f"the check ended ({proc.returncode}) before {what}: "
                                 f"{proc.stderr.read().decode()[-2000:] if proc.stderr else ''}")
        assert time.monotonic() < deadline, f"never {what}"
        time.sleep(0.01)


def rows(database: str) -> dict[str, int]:
    with Store.open(database) as store, store.engine.connect() as conn:
        found = {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one() for t in TABLES}
        found["audit"] = conn.execute(text(
            "SELECT count(*) FROM audit_log WHERE action = 'check'")).scalar_one()
        return found


def assert_nothing_then_a_whole_run(package: Path, database: str) -> None:
    assert rows(database) == dict.fromkeys((*TABLES, "audit"), 0)
    again = subprocess.run([sys.executable, "-m", "dipstick", "check", str(package),
                            "--database", database, "--format", "json"],
                           capture_output=True, text=True, timeout=DEADLINE_S)
    assert again.returncode in (0, 1), again.stderr[-2000:]
    after = rows(database)
    assert after["runs"] == 1 and after["run_extras"] == 1 and after["audit"] == 1
    assert after["service_results"] > 0 and after["findings"] > 0
    with Store.open(database) as store:
        [run] = store.runs()
        assert store.load_run(run.id)["services"]


def test_a_check_on_a_sqlite_file_another_process_holds_is_exit_3_naming_it(
        package: Path, tmp_path: Path) -> None:
    """Found writing the kill test: the check reads the pulse answers, whose first read sets
    the file to WAL; with another process holding the file, that ended in a traceback and
    exit 1 ("leak found" to a script). It is the database's trouble: exit 3, said plainly, and
    nothing stored; once the file is free the check stores its run."""
    file = tmp_path / "app.db"
    database = f"sqlite:///{file}"
    with Store.open(database) as store:
        store.migrate()
    holder = sqlite3.connect(file, isolation_level=None)
    try:
        holder.execute("BEGIN")
        holder.execute("SELECT count(*) FROM runs").fetchone()   # a read lock, held
        held = subprocess.run([sys.executable, "-m", "dipstick", "check", str(package),
                               "--database", database], capture_output=True, text=True,
                              timeout=DEADLINE_S)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert held.returncode == 3, held.stderr[-2000:]
    assert "Traceback" not in held.stderr and "database is locked" in held.stderr
    assert str(file) in held.stderr
    assert_nothing_then_a_whole_run(package, database)


@pytest.mark.postgres
def test_a_check_killed_inside_its_transaction_on_postgresql_leaves_no_trace(
        package: Path) -> None:
    with postgres_schema() as database:
        with Store.open(database) as store:
            store.migrate()
        engine = create_engine(database)
        try:
            with engine.connect() as holder:
                holder.execute(text("LOCK TABLE audit_log IN ACCESS EXCLUSIVE MODE"))
                proc = start_check(package, database)

                def waiting() -> bool:   # the check's insert into audit_log waits on the lock
                    with engine.connect() as probe:
                        return bool(probe.execute(text(
                            "SELECT count(*) FROM pg_locks l JOIN pg_class c "
                            "ON c.oid = l.relation WHERE c.relname = 'audit_log' "
                            "AND NOT l.granted AND c.relnamespace = "
                            "(SELECT oid FROM pg_namespace WHERE nspname = current_schema())"
                        )).scalar_one())

                try:
                    wait_until(waiting, proc, "it waited inside its transaction")
                    proc.send_signal(signal.SIGKILL)
                    proc.wait(timeout=DEADLINE_S)
                finally:
                    if proc.poll() is None:
                        proc.kill()
                holder.rollback()   # the lock goes; the dead client's transaction is aborted
            assert proc.returncode == -signal.SIGKILL

            def gone() -> bool:   # its server process noticed the dead client
                with engine.connect() as probe:
                    return not probe.execute(text(
                        "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
                        "WHERE c.relname = 'runs' AND c.relnamespace = (SELECT oid FROM "
                        "pg_namespace WHERE nspname = current_schema())")).scalar_one()

            deadline = time.monotonic() + DEADLINE_S
            while not gone():
                assert time.monotonic() < deadline, "the killed check's transaction lingers"
                time.sleep(0.01)
        finally:
            engine.dispose()
        assert_nothing_then_a_whole_run(package, database)
