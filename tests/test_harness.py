"""The harness's own rules (tests/conftest.py, tests/shared.py).

The moved clock of .ci/run: ``DIPSTICK_TEST_TODAY`` with two days gives each xdist worker its
own (``shared.day_of``), so one run with ``-n 2 --dist each`` runs every clock test on both
days; a worker without a day is an error, never a run on another day. The xdist scopes: the
Spark modules share one (one session, one JVM), a SPREAD module's tests are one each, and the
workers are handed the costliest first (tests/balance.py)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from types import SimpleNamespace

import pytest

from dipstick.demo.timeline import AS_OF

import balance
from balance import Estimates, costliest_first
from conftest import scope_of
from shared import day_of, moved_days


def test_one_day_or_none_is_every_process_s_day() -> None:
    assert day_of(None, None) == day_of("", "gw1") == AS_OF
    assert day_of("2027-11-01", None) == day_of("2027-11-01", "gw5") == date(2027, 11, 1)


def test_several_days_go_to_the_workers_in_order() -> None:
    moved = "2027-11-01, 2026-06-01"
    assert moved_days(moved) == [date(2027, 11, 1), date(2026, 6, 1)]
    assert day_of(moved, "gw0") == date(2027, 11, 1)
    assert day_of(moved, "gw1") == date(2026, 6, 1)


@pytest.mark.parametrize("worker", [None, "gw2", "gw", "master", "gw-1"])
def test_a_worker_without_a_day_is_an_error(worker: str | None) -> None:
    with pytest.raises(RuntimeError, match="names 2 days: run with -n 2 --dist each"):
        day_of("2027-11-01,2026-06-01", worker)


def test_the_spark_modules_share_one_scope_and_spread_tests_are_their_own() -> None:
    spark = scope_of("tests/test_spark.py::test_the_check_on_spark_equals_the_check_on_duckdb")
    assert spark == scope_of("tests/test_spark_lake.py::test_spark_reads_the_lake_tables_itself")
    # the capped-driver test starts its own JVM in a subprocess: after them, not beside them
    assert scope_of("tests/test_spark_driver.py::t") == spark
    assert scope_of("tests/test_spark_discovery.py::t") == spark
    assert scope_of("tests/test_cli.py::test_a[x]") == "tests/test_cli.py::test_a[x]"
    assert scope_of("tests/test_web.py::test_b") == "tests/test_web.py"


TESTS = Path(__file__).resolve().parent


class Worker:
    """Stands in for xdist's WorkerController (not our code): records what it is sent."""

    def __init__(self, name: str) -> None:
        self.gateway = SimpleNamespace(id=name)
        self.sent: list[int] = []
        self.shutting_down = False

    def send_runtest_some(self, indices: list[int]) -> None:
        self.sent.extend(indices)

    def shutdown(self) -> None:
        self.shutting_down = True


def test_one_long_test_goes_before_many_short_ones() -> None:
    scopes = {"tests/test_many.py": [f"tests/test_many.py::t{i}" for i in range(300)],
              "tests/test_long.py": ["tests/test_long.py::t"],
              "tests/test_new.py": ["tests/test_new.py::a", "tests/test_new.py::b"]}
    known = Estimates({"tests/test_long.py::t": 59.0}, {"tests/test_many.py": 0.05})
    assert costliest_first(scopes, known) == [
        "tests/test_long.py", "tests/test_many.py", "tests/test_new.py"]
    # a module the file does not know counts PER_TEST_S a test: 300 of them outweigh 59 s
    assert costliest_first(scopes, Estimates({}, {}))[0] == "tests/test_many.py"
    assert Estimates({}, {}).of("tests/test_new.py::a") == balance.PER_TEST_S


def test_the_scheduler_hands_out_the_costliest_scope_first() -> None:
    collection = ["tests/test_many.py::t0", "tests/test_many.py::t1", "tests/test_many.py::t2",
                  "tests/test_long.py::t", "tests/test_pulse_cli.py::a",
                  "tests/test_pulse_cli.py::b"]
    estimates = Estimates({"tests/test_long.py::t": 59.0, "tests/test_pulse_cli.py::b": 9.0},
                          {"tests/test_many.py": 0.05, "tests/test_pulse_cli.py": 0.1})
    # what xdist reads of pytest's config for ``-n 2 --dist loadscope`` (with the default
    # order, by number of tests, that the scheduler replaces)
    config = SimpleNamespace(getvalue=lambda name: {"tx": ["2*popen"]}[name],
                             option=SimpleNamespace(loadscopereorder=True))
    sched = balance.CostliestFirst(config, scope=scope_of,  # type: ignore[arg-type]
                                   estimates=estimates)
    workers = [Worker("gw0"), Worker("gw1")]
    for w in workers:
        sched.add_node(w)
    for w in workers:
        sched.add_node_collection(w, collection)
    sched.schedule()
    first = [[collection[i] for i in w.sent] for w in workers]
    # test_pulse_cli is SPREAD (a scope per test): its 9-second test comes second, the long
    # module first; xdist's own order (most tests first) would have started test_many
    assert first[0][0] == "tests/test_long.py::t"
    assert first[1][0] == "tests/test_pulse_cli.py::b"


def test_the_recorded_durations_name_modules_that_exist() -> None:
    doc = json.loads(balance.DURATIONS.read_text())
    named = {n.split("::", 1)[0] for n in doc["tests"]} | set(doc["modules"])
    assert named and all((TESTS.parent / m).is_file() for m in named)
    heavy = balance.load()
    assert heavy.of("tests/test_spark_driver.py::"
                    "test_the_check_on_a_capped_spark_driver_equals_duckdb") > 10


def test_durations_are_read_back_from_a_junit_report(tmp_path: Path) -> None:
    xml = tmp_path / "junit.xml"
    xml.write_text(
        '<testsuites><testsuite name="pytest">'
        '<testcase classname="tests.test_a" name="test_long[x]" time="12.5"/>'
        '<testcase classname="tests.test_a" name="test_short" time="0.2"/>'
        '<testcase classname="tests.test_a" name="test_shorter" time="0.1"/>'
        '<testcase classname="tests.test_b.TestGroup" name="test_m" time="3"/>'
        '</testsuite></testsuites>')
    assert balance.from_junit(xml) == {
        "tests": {"tests/test_a.py::test_long[x]": 12.5,
                  "tests/test_b.py::TestGroup::test_m": 3.0},
        "modules": {"tests/test_a.py": 0.15}}


def test_a_test_leaves_nothing_frozen_for_the_next() -> None:
    """The web's settle freezes every live object (web/context.py); the teardown hook thaws
    them after each test, else each later collector pause walks the frozen list."""
    import gc

    from dipstick.web.context import settle

    import conftest

    settle(collect=False)
    assert gc.get_freeze_count() > 0
    hook = conftest.pytest_runtest_teardown(None, None)  # type: ignore[arg-type]
    next(hook)                                   # the test's own teardown runs here
    assert gc.get_freeze_count() > 0
    with pytest.raises(StopIteration):
        hook.send(None)
    assert gc.get_freeze_count() == 0
