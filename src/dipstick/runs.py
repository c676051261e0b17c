"""A check run end to end — load the package, check it, keep it in the history — the one
sequence behind ``dipstick check`` and the web app's "Check now", so both store the same runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from dipstick.check import CheckResult, run_check
from dipstick.errors import UsageError
from dipstick.indicators.registry import CAUSES
from dipstick.model import ValueModel
from dipstick.package import Package, load_package
from dipstick.package.tables import TABLES

if TYPE_CHECKING:   # the database layer only where a run is kept (tests/test_startup.py)
    from dipstick.store import Store

Progress = Callable[[str], None]
ENGINES = ("duckdb", "spark")

# one step per signal table loaded, per cause checked, and the store: a progress bar's total
STEPS = len(TABLES) + len(CAUSES) + 1


@dataclass(frozen=True)
class Checked:
    result: CheckResult
    model: ValueModel
    run_id: int | None = None


def check_package(path: Path, as_of: date | None = None, services: list[str] | None = None,
                  progress: Progress | None = None,
                  while_open: Callable[[Package, CheckResult], None] | None = None,
                  prepare: Callable[[Package], object] | None = None,
                  engine: str = "duckdb") -> Checked:
    """Load and check a package (raises ``PackageError`` with every problem when it is bad).
    ``prepare`` adds to the loaded package before the check (e.g. the stored pulse answers,
    ``dipstick.pulse.feed.feed_stored_answers``); ``while_open`` reads what else the caller
    needs from the package before it is closed. ``engine``: ``duckdb`` (embedded) or
    ``spark`` (the same aggregations as Spark jobs, :mod:`dipstick.engine.spark`)."""
    if engine not in ENGINES:
        raise UsageError(f"unknown engine {engine!r}: choose one of {', '.join(ENGINES)}")
    step = progress or (lambda _: None)
    package: Package | None = None
    try:
        package = load_package(path, progress=lambda t: step(f"loading {t}"))
        if prepare:
            prepare(package)
        if engine == "spark":
            from dipstick.engine.spark import on_spark, session

            step("starting Spark")
            on_spark(package, session())
        result = run_check(package, as_of, services or None,
                           progress=lambda c: step(f"indicator {c}"))
        if while_open:
            while_open(package, result)
        return Checked(result, package.model)
    finally:
        if package is not None:
            package.close()


def check_and_store(path: Path, store: Store, command: str, as_of: date | None = None,
                    progress: Progress | None = None,
                    while_open: Callable[[Package, CheckResult], None] | None = None) -> Checked:
    """Check a package, with the stored pulse answers, and keep the run; nothing is stored
    when the package is bad."""
    from dipstick.store.actions import settle

    started = datetime.now(UTC)
    checked = check_package(path, as_of, progress=progress, while_open=while_open,
                            prepare=lambda p: add_answers(store, p))
    if progress:
        progress("storing the run")
    run_id = store.save_run(checked.result, started_at=started, finished_at=datetime.now(UTC),
                            command=command)
    settle(store)    # a done action whose leak came back is reopened (docs/actions.md)
    return Checked(checked.result, checked.model, run_id)


def add_answers(store: Store, package: Package) -> int:
    """The stored pulse answers of the package's organisation joined to its surveys, and its
    self-assessments given on the web to the package's own (the ``prepare`` step of a check
    run where the app database is already open)."""
    from dipstick.pulse.feed import answers_as_surveys, merge_surveys
    from dipstick.store.selfassess import add_stored_answers

    model = package.model
    return (merge_surveys(package, answers_as_surveys(store, model.organisation.name, model))
            + add_stored_answers(store, package))
