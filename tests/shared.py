"""Things built once per test session and shared by every xdist worker: the demo organisation,
its check (pickled) and an app database (SQLite) holding that check.

Generating the demo takes seconds and checking it more; each module doing both again was a
large share of the suite's time. The first worker to ask builds under a file lock in the
session's shared folder; the others wait for it and then read. Tests only read these: a test
that writes copies first (``copied``).
"""

from __future__ import annotations

import fcntl
import os
import pickle
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, time
from pathlib import Path

import pytest

from dipstick.check import CheckResult, run_check
from dipstick.demo import generate
from dipstick.demo.timeline import AS_OF
from dipstick.package import load_package
from dipstick.store import Store

SEED = 7
_DAY: list[date] = []


def moved_days(moved: str | None) -> list[date]:
    """The days ``DIPSTICK_TEST_TODAY`` names: one, or several separated by commas for one run
    that moves each xdist worker to its own day (``-n`` as many workers, ``--dist each``: every
    worker runs every test). .ci/run moves two workers to its two days in one run, instead of
    two runs that each collect the whole suite twice and prepare the demo again."""
    return [date.fromisoformat(d.strip()) for d in (moved or "").split(",") if d.strip()]


def day_of(moved: str | None, worker: str | None) -> date:
    """The "today" of the process: the demo's last day unless ``moved``; of several days, the
    one of the worker's number (``gw0`` the first). Any other worker is an error, never a
    quiet fall back to another day."""
    days = moved_days(moved)
    if len(days) <= 1:
        return days[0] if days else AS_OF
    index = int(worker[2:]) if worker and worker[:2] == "gw" and worker[2:].isdigit() else -1
    if not 0 <= index < len(days):
        raise RuntimeError(f"DIPSTICK_TEST_TODAY names {len(days)} days: run with -n "
                           f"{len(days)} --dist each (worker {worker!r} has no day)")
    return days[index]


def session_day() -> date:
    """The one "today" of the tests that read the clock, never the wall clock: the day
    ``DIPSTICK_TEST_TODAY`` names for this process (.ci/run's moved-clock run), else the demo's
    last day of data. The ``clock`` tests run at noon of it (conftest.pinned_clock)."""
    if not _DAY:
        _DAY.append(day_of(os.environ.get("DIPSTICK_TEST_TODAY"),
                           os.environ.get("PYTEST_XDIST_WORKER")))
    return _DAY[0]


def session_dir(factory: pytest.TempPathFactory) -> Path:
    """The folder all workers of this session share (the base temp itself without xdist:
    its parent would be shared with earlier sessions). Workers moved to different days share
    nothing: each builds its demo and databases on its own day, as a run of its own would."""
    base = factory.getbasetemp()
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return base
    if len(moved_days(os.environ.get("DIPSTICK_TEST_TODAY"))) > 1:
        own = base.parent / f"day-{session_day().isoformat()}"
        own.mkdir(exist_ok=True)
        return own
    return base.parent


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """An exclusive lock between processes (fcntl: no dependency for one lock)."""
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def once(root: Path, name: str, build: Callable[[Path], None]) -> Path:
    """``root/name`` built by ``build`` exactly once across workers: written under another
    name and renamed when complete, so nobody reads a half-built thing."""
    target = root / name
    with locked(root / f"{name}.lock"):
        if not target.exists():
            partial = root / f"{name}.partial"
            if partial.is_dir():
                shutil.rmtree(partial)
            partial.unlink(missing_ok=True)
            build(partial)
            partial.rename(target)
    return target


def demo(root: Path) -> Path:
    """The demo organisation (seed 7), read-only for the tests."""
    def build(path: Path) -> None:
        generate(path, seed=SEED)
    return once(root, "demo", build)


def _check(root: Path) -> Callable[[Path], None]:
    def build(path: Path) -> None:
        package = load_package(demo(root))
        try:
            result = run_check(package)
        finally:
            package.close()
        path.write_bytes(pickle.dumps(result))
    return build


def demo_check(root: Path) -> CheckResult:
    """The check of the demo as of its data (its own as-of date): no clock involved."""
    result: CheckResult = pickle.loads(once(root, "demo-check.pickle", _check(root)).read_bytes())
    return result


def demo_db(root: Path) -> Path:
    """A migrated SQLite app database holding the demo's check as one stored run, dated on
    the demo's as-of day (not today: the clock must not matter)."""
    def build(path: Path) -> None:
        result = demo_check(root)
        at = datetime.combine(result.window.as_of, time(12), tzinfo=UTC)
        with Store.open(f"sqlite:///{path}") as store:
            store.migrate()
            store.save_run(result, started_at=at, finished_at=at, command="check")
    return once(root, "demo-app.db", build)


def copied(source: Path, target: Path) -> Path:
    """A private copy of a shared file or folder, for a test that writes to it."""
    if source.is_dir():
        shutil.copytree(source, target)
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
    return target
