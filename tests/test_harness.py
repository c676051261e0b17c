"""The harness's own rules (tests/conftest.py, tests/shared.py).

The moved clock of .ci/run: ``DIPSTICK_TEST_TODAY`` with two days gives each xdist worker its
own (``shared.day_of``), so one run with ``-n 2 --dist each`` runs every clock test on both
days; a worker without a day is an error, never a run on another day. The xdist scopes: the
Spark modules share one (one session, one JVM), a SPREAD module's tests are one each."""

from __future__ import annotations

from datetime import date

import pytest

from conftest import scope_of
from dipstick.demo.timeline import AS_OF

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
    # the capped-driver test starts its own JVM in a subprocess: free to run beside them
    assert scope_of("tests/test_spark_driver.py::t") == "tests/test_spark_driver.py" != spark
    assert scope_of("tests/test_cli.py::test_a[x]") == "tests/test_cli.py::test_a[x]"
    assert scope_of("tests/test_web.py::test_b") == "tests/test_web.py"
