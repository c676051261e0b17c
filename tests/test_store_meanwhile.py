"""Storing a run makes its pages' context while PostgreSQL writes the findings
(``insert_run``'s ``meanwhile``, issue 16): the pickling costs no wall time of its own there,
and the run stays all or nothing."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select

from dipstick.check import CheckResult, ServiceVerdict
from dipstick.findings import Finding, LeakEstimate, Status, Window
from dipstick.model import Service
from dipstick.store import Store
from dipstick.store.rows import insert_run
from dipstick.store.tables import FindingRow, Run, RunExtras, ServiceResult

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def two_services() -> CheckResult:
    crm, hr = Service(id="crm", name="CRM"), Service(id="hr", name="HR portal")
    return CheckResult("Acme Ltd", "EUR", 62.5, Window(NOW.date(), 91, 364), "/data/acme", tuple(
        ServiceVerdict(s, tuple(Finding(s.id, cause, Status.OK, 0.0, "fine", (),
                                        LeakEstimate(), "x")
                                for cause in ("training", "perception")))
        for s in (crm, hr)))


@pytest.fixture
def store(url: str) -> Any:
    with Store.open(url) as s:
        s.migrate()
        yield s


def counts(store: Store) -> list[int]:
    with store.engine.connect() as conn:
        return [conn.scalar(select(func.count()).select_from(t))   # type: ignore[misc]
                for t in (Run, ServiceResult, FindingRow, RunExtras)]


def test_meanwhile_runs_once_and_on_postgresql_beside_the_findings_copy_s_end(
        store: Store) -> None:
    """On PostgreSQL ``meanwhile`` runs while the findings' ``COPY`` ends on the server (its
    foreign keys are checked only then, session 16): a second connection sees the saving one
    go from that ``COPY`` to idle in its transaction while ``meanwhile`` waits — which never
    happened while ``meanwhile`` ran before the ``COPY``'s end was sent."""
    seen: list[str] = []
    with store.engine.begin() as conn:
        def meanwhile() -> None:
            if conn.dialect.name == "postgresql":
                pid = conn.connection.driver_connection.info.backend_pid  # type: ignore[union-attr]
                with store.engine.connect() as other:
                    for _ in range(100):     # up to ~5 s
                        state = other.exec_driver_sql(
                            "SELECT state || ': ' || left(query, 13) FROM pg_stat_activity "
                            f"WHERE pid = {pid}").scalar_one()
                        if state.startswith("idle"):
                            break
                        time.sleep(0.05)
                seen.append(state)
            else:                                   # SQLite: every finding written before
                seen.append(str(conn.scalar(select(func.count()).select_from(FindingRow))))

        insert_run(conn, two_services(), NOW, NOW, "check", meanwhile=meanwhile)
    assert seen == (["idle in transaction: COPY findings"]
                    if store.engine.dialect.name == "postgresql" else ["4"])
    assert counts(store) == [1, 2, 4, 0]


def test_meanwhile_runs_once_for_a_run_without_services(store: Store) -> None:
    called: list[int] = []
    empty = CheckResult("Acme Ltd", "EUR", 62.5, Window(NOW.date(), 91, 364), "/data/acme", ())
    with store.engine.begin() as conn:
        insert_run(conn, empty, NOW, NOW, "check", meanwhile=lambda: called.append(1))
    assert called == [1]


def test_a_context_that_cannot_be_stored_stores_nothing(store: Store) -> None:
    """Pickling it fails in the middle of PostgreSQL's COPY: the COPY and the transaction are
    aborted, the error is the pickler's, and the next run stores as usual."""
    with pytest.raises(TypeError, match="pickle"):
        store.save_run(two_services(), started_at=NOW, finished_at=NOW, command="check",
                       extras=threading.Lock())
    assert counts(store) == [0, 0, 0, 0]
    store.save_run(two_services(), started_at=NOW, finished_at=NOW, command="check",
                   extras={"fine": 1})
    assert counts(store) == [1, 2, 4, 1]


def test_built_extras_are_made_in_the_findings_copy_on_postgresql_before_it_on_sqlite(
        store: Store) -> None:
    """``build_extras`` (``dipstick check``'s context, built from the open package): on
    PostgreSQL right after the findings' ``COPY`` (its last statement; the server may still be
    ending it); on SQLite before the transaction, no connection held (so no write lock)."""
    seen: list[object] = []

    def build() -> dict[str, int]:
        if store.engine.dialect.name == "postgresql":
            with store.engine.connect() as other:   # a second connection watches the first
                seen.append(other.exec_driver_sql(
                    "SELECT left(query, 13) FROM pg_stat_activity WHERE pid <> "
                    "pg_backend_pid() AND state IN ('active', 'idle in transaction') "
                    "AND query LIKE 'COPY findings%%'").scalar())
        else:
            seen.append(store.engine.pool.checkedout())   # type: ignore[attr-defined]
        return {"built": 1}

    store.save_run(two_services(), started_at=NOW, finished_at=NOW, command="check",
                   build_extras=build)
    assert seen == (["COPY findings"] if store.engine.dialect.name == "postgresql" else [0])
    assert counts(store) == [1, 2, 4, 1]
    assert store.load_extras(1) == {"built": 1}


def test_built_extras_none_store_none_and_a_failing_build_stores_nothing(store: Store) -> None:
    store.save_run(two_services(), started_at=NOW, finished_at=NOW, command="check",
                   build_extras=lambda: None)
    assert counts(store) == [1, 2, 4, 0]

    def broken() -> object:
        raise RuntimeError("the context could not be built")

    with pytest.raises(RuntimeError, match="could not be built"):
        store.save_run(two_services(), started_at=NOW, finished_at=NOW, command="check",
                       build_extras=broken)
    assert counts(store) == [1, 2, 4, 0]
