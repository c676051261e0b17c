"""Storing a run makes its pages' context while PostgreSQL writes the findings
(``insert_run``'s ``meanwhile``, issue 16): the pickling costs no wall time of its own there,
and the run stays all or nothing."""

from __future__ import annotations

import threading
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


def test_meanwhile_runs_once_and_on_postgresql_inside_the_findings_copy(store: Store) -> None:
    seen: list[str] = []
    with store.engine.begin() as conn:
        def meanwhile() -> None:
            if conn.dialect.name == "postgresql":   # a COPY in progress: the server is busy
                seen.append(conn.connection.driver_connection.info  # type: ignore[union-attr]
                            .transaction_status.name)
            else:                                   # SQLite: every finding written before
                seen.append(str(conn.scalar(select(func.count()).select_from(FindingRow))))

        insert_run(conn, two_services(), NOW, NOW, "check", meanwhile=meanwhile)
    assert seen == (["ACTIVE"] if store.engine.dialect.name == "postgresql" else ["4"])
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
