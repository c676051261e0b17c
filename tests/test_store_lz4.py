"""On PostgreSQL a run's long evidence texts are compressed by lz4, not pglz (``rows.LZ4``:
the server's CPU for storing the large demo 0.57 → 0.42 s, issue 16), for the saving
transaction only, and they read back the same."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from dipstick.check import CheckResult, ServiceVerdict
from dipstick.findings import LeakEstimate, Status, Window, conclude, fact
from dipstick.model import Service
from dipstick.store import Store

from db import postgres_schema

pytestmark = pytest.mark.postgres
NOW = datetime(2026, 12, 1, tzinfo=UTC)


@pytest.fixture
def store() -> Iterator[Store]:
    with postgres_schema() as url, Store.open(url) as s:
        s.migrate()
        yield s


def long_evidence() -> CheckResult:
    """One finding whose evidence JSON is ~10 KB: above TOAST's threshold, so compressed."""
    crm = Service(id="crm", name="CRM")
    facts = [fact(f"metric_{i}", f"A long label for metric number {i} of the CRM", float(i),
                  "2026-09-02..2026-11-30", Status.OK) for i in range(80)]
    finding = conclude("crm", "training", facts, LeakEstimate(12.5, 1.0, "x"), "train")
    return CheckResult("Acme Ltd", "EUR", 62.5, Window(NOW.date(), 91, 364), "/data/acme",
                       (ServiceVerdict(crm, (finding,)),))


def test_long_evidence_is_lz4_for_the_save_only_and_reads_back_the_same(store: Store) -> None:
    with store.engine.connect() as conn:
        if not conn.execute(text("SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = "
                                 "'default_toast_compression'")).scalar():
            pytest.skip("this PostgreSQL has no lz4")
        before = conn.execute(text("SHOW default_toast_compression")).scalar_one()
    assert before != "lz4", "the server's default is lz4 already: nothing to see"
    result = long_evidence()
    run_id = store.save_run(result, started_at=NOW, finished_at=NOW, command="check")
    with store.engine.connect() as conn:
        method = conn.execute(text("SELECT pg_column_compression(evidence) FROM findings")
                              ).scalar_one()
        after = conn.execute(text("SHOW default_toast_compression")).scalar_one()
    assert method == "lz4"
    assert after == before    # SET LOCAL: the pooled connection is as it was
    assert store.load_run(run_id)["services"][0]["causes"]["training"]["evidence"] == \
        result.to_json()["services"][0]["causes"]["training"]["evidence"]
