"""Holistic aggregates under a memory bound (issue 16, scale): a query grouped by service
with medians, run once per disjoint set of services, gives exactly the rows of one run — on
the demo organisation and real DuckDB."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from dipstick.engine import parts
from dipstick.engine.sql import run
from dipstick.findings import CheckContext, CommonSpec, Window
from dipstick.indicators.registry import split_settings
from dipstick.indicators.tickets import (
    BASELINE,
    CURRENT,
    INTERNAL,
    internal_resolution,
    ticket_facts,
)
from dipstick.package import Package, load_package
from dipstick.shifts import series


def test_memory_setting_reads_as_bytes() -> None:
    assert parts.memory_bytes("953.6 MiB") == int(953.6 * 2**20)
    assert parts.memory_bytes("1GB") == 10**9
    assert parts.memory_bytes("512 KiB") == 512 * 1024
    assert parts.memory_bytes("12 bytes") == 12
    assert parts.memory_bytes("unlimited") is None
    assert parts.memory_bytes("") is None


def test_sets_grow_with_rows_over_the_bound() -> None:
    gb = 10**9
    assert parts.count(5_300_000, 19 * gb) == 1          # the large demo, default bound
    assert parts.count(50_000_000, gb) == 8              # measured: 4 fit, 1 does not
    assert parts.count(10, None) == 1
    assert parts.count(0, gb) == 1


def test_deal_covers_every_key_once_in_balanced_sets() -> None:
    keys = [f"s{i:03}" for i in range(10)][::-1]
    sets = parts.deal(keys, 3)
    assert sorted(k for s in sets for k in s) == sorted(keys)
    assert [len(s) for s in sets] == [4, 3, 3]
    assert parts.deal(["a", "b"], 5) == [["a"], ["b"]]   # never an empty set


@pytest.fixture
def package(demo_org: Path) -> Iterator[Package]:
    loaded = load_package(demo_org)
    try:
        yield loaded
    finally:
        loaded.close()


def _bound_into_three(package: Package, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the demo's tickets need three sets under the connection's own memory limit (its
    bytes-per-row estimate raised, not the limit lowered: the rest of the query would not run
    in a few megabytes)."""
    con = package.signals.connection
    limit = parts.memory_bytes(str(run(con, "SELECT current_setting('memory_limit')")[0][0]))
    rows = run(con, "SELECT count(*) FROM tickets")[0][0]
    assert limit and rows
    monkeypatch.setattr(parts, "BYTES_PER_ROW", 2.5 * limit / rows)


def test_demo_fits_whole(package: Package) -> None:
    assert package.signals.parts("tickets", "service") is None


def test_series_per_set_of_services_equal_one_run(package: Package,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    model = package.model
    end = _context(package).window.end
    whole = series.build(package.signals, model, end)
    _bound_into_three(package, monkeypatch)
    sets = package.signals.parts("tickets", "service")
    assert sets is not None and len(sets) == 3
    split = series.build(package.signals, model, end)
    assert [s.key for s in split] == [s.key for s in whole]
    medians = [s for s in whole if s.key.metric == "resolution_hours"]
    assert medians
    for a, b in zip(whole, split, strict=True):
        assert np.array_equal(a.index, b.index), a.key
        assert np.array_equal(a.values, b.values), a.key


def _context(package: Package) -> CheckContext:
    model = package.model
    common = split_settings(model.settings, CommonSpec)
    assert package.latest is not None
    window = Window(model.organisation.as_of or package.latest, common.window_days,
                    common.baseline_days)
    return CheckContext(model, package.signals, window, common)


def test_ticket_medians_per_set_equal_one_run(package: Package,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    whole = _context(package)
    facts = {w: ticket_facts(whole, INTERNAL, w) for w in (CURRENT, BASELINE)}
    resolution = {w: internal_resolution(whole, w) for w in (CURRENT, BASELINE)}
    _bound_into_three(package, monkeypatch)
    split = _context(package)           # a new context: its cache is empty
    for w in (CURRENT, BASELINE):
        got, want = ticket_facts(split, INTERNAL, w), facts[w]
        assert got.keys() == want.keys() and want
        for service, row in want.items():
            assert got[service]["resolution_h"] == row["resolution_h"], service
            assert got[service]["n"] == row["n"]
            assert got[service]["lost_hours"] == pytest.approx(row["lost_hours"], rel=1e-12)
        got_r, want_r = internal_resolution(split, w), resolution[w]
        assert got_r.keys() == want_r.keys() and want_r
        for key, row in want_r.items():
            assert (got_r[key]["median"], got_r[key]["n"]) == (row["median"], row["n"]), key
