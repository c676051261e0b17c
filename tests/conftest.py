"""Fixtures shared across test modules."""

from __future__ import annotations

import gc
import os
from collections.abc import Generator, Iterator
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

import pytest
import time_machine

from dipstick.check import CheckResult
from dipstick.demo import GroundTruth
from dipstick.findings import CheckContext, CommonSpec, Window
from dipstick.indicators.registry import split_settings
from dipstick.package import Package, load_package
from sparkenv import need_spark

import balance
import shared
from browser import chromium
from db import BACKENDS, app_database
from local import Mailbox, smtp_server
from webserver import PreparedDemo, RunningApp, app_on, prepared_demo


@pytest.fixture(scope="session")
def demo_org(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo organisation, written once per test session and shared by all workers
    (tests/shared.py): tests read it; one that writes takes a copy (``shared.copied``)."""
    return shared.demo(shared.session_dir(tmp_path_factory))


@pytest.fixture
def ctx(demo_org: Path) -> Iterator[CheckContext]:
    """The demo organisation's check context over its current window, as ``run_check`` makes
    it, for tests of one cause's ``measure`` or ``assess``."""
    package: Package = load_package(demo_org)
    model = package.model
    common = split_settings(model.settings, CommonSpec)
    assert package.latest is not None
    window = Window(model.organisation.as_of or package.latest, common.window_days,
                    common.baseline_days)
    try:
        yield CheckContext(model, package.signals, window, common)
    finally:
        package.close()


@pytest.fixture(params=BACKENDS)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty app database on each backend (SQLite file, scratch PostgreSQL schema); a
    module may define its own ``url``."""
    with app_database(request.param, tmp_path) as found:
        yield found


@pytest.fixture(scope="session")
def web_demo(tmp_path_factory: pytest.TempPathFactory) -> PreparedDemo:
    """The demo and its app database (a stored check, users), prepared once per session and
    shared by the xdist workers (tests/webserver.py); each module copies the database."""
    return prepared_demo(tmp_path_factory)


@pytest.fixture(scope="module")
def package(web_demo: PreparedDemo) -> Path:
    """The package a web test module serves (a module may override it, e.g. a hostile one)."""
    return web_demo.package


@pytest.fixture(scope="module")
def app(package: Path, web_demo: PreparedDemo,
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    """The web app serving ``package`` in process on SQLite, once per module (the web layer
    has no database-specific code; tests/test_pulse_web.py also runs it on PostgreSQL)."""
    with app_on("sqlite", package, tmp_path_factory, web_demo) as running:
        yield running


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    """One local Spark session per worker, shared by test_spark and test_spark_lake (one xdist
    scope, ``SHARED``): its JVM starts once and is warm (JIT-compiled) for the later checks."""
    need_spark()
    from dipstick.engine.spark import session

    s = session("local[2]")
    try:
        yield s
    finally:
        s.stop()


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    """A real SMTP server for the test: its mailbox and port."""
    with smtp_server() as found:
        yield found


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's chromium (Playwright), one per test module; skips without it (tests/browser.py)."""
    with chromium() as launched:
        yield launched


# -- built once per session (tests/shared.py) ----------------------------------------------

@pytest.fixture(scope="session")
def demo_truth(demo_org: Path) -> GroundTruth:
    """What the demo seeded (its ``ground_truth.json``)."""
    return GroundTruth.load(demo_org)


@pytest.fixture(scope="session")
def demo_result(tmp_path_factory: pytest.TempPathFactory) -> CheckResult:
    """The demo's check as of its own data, computed once per session (read-only)."""
    return shared.demo_check(shared.session_dir(tmp_path_factory))


@pytest.fixture
def demo_db(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> str:
    """The URL of a private SQLite app database, migrated, holding the demo's check."""
    source = shared.demo_db(shared.session_dir(tmp_path_factory))
    return f"sqlite:///{shared.copied(source, tmp_path / 'app.db')}"


# -- nothing frozen between tests ------------------------------------------------------------

@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None
                            ) -> Generator[None, None, None]:
    """A test leaves nothing frozen. The web app's ``settle`` (web/context.py) freezes every
    object alive, as fits a server whose heap is its caches; in a test worker that is the
    whole harness, frozen for the rest of the suite and growing with each settle, and every
    later pause of the collector (``collector.paused``, in each check and each stored run)
    walks the frozen list to count it: ~30 ms at 277,000 objects. Thawing changes no result:
    the web freezes again when it next settles."""
    try:
        return (yield)
    finally:
        gc.unfreeze()


# -- balance across workers -----------------------------------------------------------------

SHARED_SCOPES = {"module", "class", "package"}
# Modules whose tests share nothing costly (no module- or class-scoped fixture): under xdist
# each of their tests is handed out on its own, so a heavy module no longer loads one worker
# (test_pulse_cli once took 56 % of the wall time on one worker). Every other module stays
# on one worker, so its module fixtures (servers, browsers, Spark) are built once.
SPREAD = {"test_alerts.py", "test_cli.py", "test_discovery.py", "test_fuzz.py",
          "test_indicators.py", "test_journeys.py", "test_pull_import.py", "test_pulse_cli.py",
          "test_pulse_core.py", "test_store.py", "test_streams.py"}
# Modules that share a costly session fixture: each group runs on one worker, one module after
# the other, so the fixture is built once (the Spark session: ~8 s of JVM start, and a cold JIT
# that makes the first check the slowest). The capped-driver test starts its own JVM, but runs
# in the group too: beside it, two JVMs of ``local[2]`` fought over two cores (two runs each:
# the Spark tests' worker time 199, 209 -> 167, 162 s; docs/testing.md, "Timing").
SHARED = {"test_spark.py": "spark", "test_spark_lake.py": "spark",
          "test_spark_discovery.py": "spark", "test_spark_driver.py": "spark"}


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """``--dist loadscope`` with scopes of our own: a test of a SPREAD module is its own
    scope, the modules of a SHARED group are one scope, any other test's scope is its module;
    handed out costliest first (tests/balance.py).
    (``--dist loadgroup`` would do this by marks, but pytest-xdist 3.8 cannot rename node ids
    on pytest 9.2, so marks are ignored.)"""
    if config.getvalue("dist") != "loadscope":
        return None
    return balance.CostliestFirst(config, log, scope=scope_of)


def scope_of(nodeid: str) -> str:
    """The xdist scope of a test: itself (SPREAD), its SHARED group, else its module."""
    module = nodeid.split("::", 1)[0]
    name = Path(module).name
    if name in SHARED:
        return f"shared:{SHARED[name]}"
    return nodeid if name in SPREAD else module


def pytest_itemcollected(item: pytest.Item) -> None:
    """A SPREAD module must not grow a module- or class-scoped fixture: spread over workers,
    it would be built on each of them. A ``clock`` test must be in a CLOCK module, or the
    moved-clock runs would not collect it."""
    if item.get_closest_marker("clock") is not None and item.path.name not in CLOCK:
        raise pytest.UsageError(f"{item.nodeid} is marked clock: add its module to "
                                "conftest.CLOCK (the moved-clock runs collect only those)")
    if item.path.name not in SPREAD:
        return
    info = getattr(item, "_fixtureinfo", None)
    defs = info.name2fixturedefs.values() if info is not None else ()
    shared_ = sorted({d.argname for chain in defs for d in chain if d.scope in SHARED_SCOPES})
    if shared_:
        raise pytest.UsageError(f"{item.nodeid} is in conftest.SPREAD but uses the module- or "
                                f"class-scoped fixture(s) {', '.join(shared_)}")


# -- the clock ------------------------------------------------------------------------------

# The modules that hold the ``clock`` tests. A run of ``-m clock`` (.ci/run's moved-clock run)
# collects only these: importing the whole suite to deselect all but 77 tests cost each worker
# seconds. pytest_itemcollected fails any run that finds a clock test elsewhere.
CLOCK = {"test_pulse_batches.py", "test_pulse_cli.py", "test_pulse_core.py",
         "test_pulse_hostile.py", "test_pulse_web.py"}


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """Under ``-m clock``, a test module outside CLOCK holds nothing that would run."""
    name = collection_path.name
    if (config.getoption("markexpr", "") == "clock" and name.startswith("test_")
            and name.endswith(".py") and name not in CLOCK):
        return True
    return None


_MOVED: list[Any] = []


def pytest_configure(config: pytest.Config) -> None:
    """``DIPSTICK_TEST_TODAY=YYYY-MM-DD`` moves this process's clock to noon of that day
    (ticking) before any test module is imported, so the ``clock`` tests prove they pass on
    any day: .ci/run uses a day after the demo's data and one before it. In-process only: a
    subprocess keeps the real clock (why the CLI tests run in-process). Several days
    (``A,B``) move each xdist worker to its own (``shared.day_of``): the run must give every
    worker every test (``-n 2 --dist each``), checked here so no day is skipped quietly."""
    moved = os.environ.get("DIPSTICK_TEST_TODAY")
    if not moved:
        return
    days = shared.moved_days(moved)
    if len(days) > 1 and not os.environ.get("PYTEST_XDIST_WORKER"):   # xdist's controller
        if (config.getoption("dist", None) != "each"
                or config.getoption("numprocesses", None) != len(days)):
            raise pytest.UsageError(f"DIPSTICK_TEST_TODAY={moved} names {len(days)} days: "
                                    f"run with -n {len(days)} --dist each")
        return
    traveller = time_machine.travel(noon(shared.session_day()), tick=True)
    traveller.start()
    _MOVED.append(traveller)


def pytest_report_header(config: pytest.Config) -> str | None:
    """Which day each process runs on, so a red moved-clock run names its day."""
    days = shared.moved_days(os.environ.get("DIPSTICK_TEST_TODAY"))
    if not days:
        return None
    return "clock moved to " + ", ".join(
        f"{d} (gw{i})" if len(days) > 1 else str(d) for i, d in enumerate(days))


def pytest_unconfigure(config: pytest.Config) -> None:
    while _MOVED:
        _MOVED.pop().stop()


def noon(day: date) -> datetime:
    return datetime.combine(day, time(12), tzinfo=UTC)


@pytest.fixture(autouse=True)
def pinned_clock(request: pytest.FixtureRequest) -> Iterator[None]:
    """A ``clock`` test runs at noon of the session's day (ticking): what it reads as today
    is the day its module saw at import, whatever the hour the suite runs."""
    if request.node.get_closest_marker("clock") is None:
        yield
        return
    with time_machine.travel(noon(shared.session_day()), tick=True):
        yield
