"""A run's context is stored without its verdicts, which its rows already hold, and read back
with them rebuilt from the rows (``runs.StoredContext``, ``runs.read_context``; issue 16,
storing): the context read back is the one :func:`runs.context_of` builds, value for value and
in its printed form, on SQLite and on PostgreSQL; what the rows cannot give back exactly (a
-0.0, an int where a float is due) stays in the stored context; a context stored whole by the
earlier format is still read."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime
from math import copysign
from pathlib import Path

import pytest
from sqlalchemy import update

from dipstick.check import CheckResult
from dipstick.findings import LeakEstimate, evolve
from dipstick.package import load_package
from dipstick.runs import (
    RunContext,
    StoredContext,
    as_stored,
    context_of,
    read_context,
    stored_form,
)
from dipstick.store import Store
from dipstick.store.tables import RunExtras

from clirun import dipstick

NOW = datetime(2026, 12, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def built(demo_org: Path, demo_result: CheckResult) -> Iterator[tuple[RunContext,
                                                                      StoredContext]]:
    """The demo's context as the pages get it, and in the form ``dipstick check`` stores."""
    package = load_package(demo_org)
    try:
        yield context_of(package, demo_result), stored_form(package, demo_result)
    finally:
        package.close()


def stored(url: str, result: CheckResult, extras: object) -> tuple[Store, int]:
    store = Store.open(url)
    store.migrate()
    return store, store.save_run(result, started_at=NOW, finished_at=NOW, command="check",
                                 extras=extras)


def test_the_context_read_back_is_the_one_built(url: str, demo_result: CheckResult,
                                                built: tuple[RunContext, StoredContext]
                                                ) -> None:
    full, form = built
    assert form.context.result.verdicts == () and not form.kept       # nothing stored twice
    assert form.kpis                         # the value map's outcome KPIs, kept with it
    store, run_id = stored(url, demo_result, form)
    with store:
        back = read_context(store, run_id)
    assert back == full and back.result == full.result
    assert back.result.trends == full.result.trends                   # not in CheckResult's ==
    assert repr(back) == repr(full)          # types too: a float stays a float, a date a date
    assert as_stored(full) == form           # the web's "Check now" stores the same


def test_the_stored_context_leaves_out_each_table_s_coverage_per_service(
        built: tuple[RunContext, StoredContext]) -> None:
    """``TableCoverage.services`` is the check's own cache (``coverage.judged``; each
    finding's coverage is in its row): not stored, and not taken from the context in memory
    (the web's "Check now" keeps that one)."""
    full, form = built
    assert any(c.services for c in full.result.coverage)      # the demo has them
    for stored_form_ in (form, as_stored(full)):
        covered = stored_form_.context.result.coverage
        assert covered == full.result.coverage                # each table's numbers kept
        assert all(c.services is None for c in covered)
    assert any(c.services for c in full.result.coverage)      # not changed in memory


def test_what_the_rows_cannot_hold_exactly_stays_in_the_stored_context(
        url: str, demo_result: CheckResult, built: tuple[RunContext, StoredContext]) -> None:
    """SQLite keeps -0.0 as 0.0; an int score would come back a float: such a verdict is
    stored whole, and read back with its sign and its type."""
    full, _ = built
    odd = {0: lambda f: evolve(f, leak=LeakEstimate(-0.0, 0.0, "none")),
           1: lambda f: evolve(f, score=0)}
    verdicts = list(full.result.verdicts)
    for i, change in odd.items():
        verdicts[i] = evolve(verdicts[i], findings=(change(verdicts[i].findings[0]),
                                                    *verdicts[i].findings[1:]))
    result = dataclasses.replace(full.result, verdicts=tuple(verdicts))
    ctx = dataclasses.replace(full, result=result)
    form = as_stored(ctx)
    assert set(form.kept) == set(odd)
    store, run_id = stored(url, dataclasses.replace(demo_result, verdicts=tuple(verdicts)),
                           form)
    with store:
        back = read_context(store, run_id)
    assert back == ctx and repr(back) == repr(ctx)
    assert back is not None
    first = back.result.verdicts[0].findings[0]
    assert copysign(1.0, first.leak.money) == -1.0
    assert type(back.result.verdicts[1].findings[0].score) is int


def test_a_context_stored_whole_by_the_earlier_format_is_still_read(
        tmp_path: Path, demo_result: CheckResult, built: tuple[RunContext, StoredContext]
        ) -> None:
    """Format 1 stored the context with its light verdicts inside: such runs keep their
    pages."""
    full, _ = built
    store, run_id = stored(f"sqlite:///{tmp_path / 'app.db'}", demo_result, full)
    with store:
        with store.engine.begin() as conn:
            conn.execute(update(RunExtras).values(format=1))
        back = read_context(store, run_id)
    assert back == full and repr(back) == repr(full)


def test_a_stored_context_that_does_not_fit_its_rows_is_not_read(
        tmp_path: Path, demo_result: CheckResult, built: tuple[RunContext, StoredContext]
        ) -> None:
    """Rows of another run (here: none at all) cannot make its verdicts: the pages then
    re-check, as for a run stored without a context — never verdicts that are not the run's."""
    _, form = built
    short = dataclasses.replace(demo_result, verdicts=demo_result.verdicts[:1])
    store, run_id = stored(f"sqlite:///{tmp_path / 'app.db'}", short, form)
    with store:
        assert read_context(store, run_id) is None


def test_dipstick_check_stores_the_context_without_its_verdicts(
        demo_org: Path, tmp_path: Path, demo_result: CheckResult,
        built: tuple[RunContext, StoredContext]) -> None:
    """The CLI's stored run: its context is the stored form, and reads back as the pages'."""
    full, _ = built
    url = f"sqlite:///{tmp_path / 'app.db'}"
    ran = dipstick("check", demo_org, "--format", "json", "--database", url)
    assert ran.returncode in (0, 1), ran.stderr
    with Store.open(url) as store:
        run_id = store.runs(1)[0].id
        body = store.load_extras(run_id)
        assert isinstance(body, StoredContext) and body.context.result.verdicts == ()
        back = read_context(store, run_id)
    assert back == full and repr(back) == repr(full)
