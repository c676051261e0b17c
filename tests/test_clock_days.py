"""The moved clock of .ci/run: ``DIPSTICK_TEST_TODAY`` with two days gives each xdist worker
its own (``shared.day_of``), so one run with ``-n 2 --dist each`` runs every clock test on both
days; a worker without a day is an error, never a run on another day."""

from __future__ import annotations

from datetime import date

import pytest

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
