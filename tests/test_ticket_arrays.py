"""The ticket facts and resolution by type grouped in NumPy (``indicators.ticket_arrays``, the
DuckDB path) against the engine's grouped queries (the Spark path) on varied tickets: both
audiences, questions, nulls in every measured column, open tickets, services with one ticket
in a window or none in the other, read coded and plain."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dipstick.findings import CheckContext, CommonSpec, Window
from dipstick.indicators import tickets
from dipstick.indicators.registry import split_settings
from dipstick.package import load_package

from builder import AS_OF, PackageBuilder, plain_signals


def _package(root: Path) -> Path:
    b = PackageBuilder(root)
    b.model["stakeholder_groups"].append(
        {"id": "partners", "name": "Partners", "kind": "customer", "size": 50,
         "value_dimensions": [{"id": "ease", "name": "Ease", "weight": 1}]})
    for sid in ("a", "b", "c", "d", "e"):
        b.service(sid)
    rng = np.random.default_rng(3)
    end = datetime.combine(AS_OF, datetime.min.time()) + timedelta(days=1)

    def maybe(value: int) -> Any:
        return "" if rng.random() < 0.15 else value

    rows = []
    for i in range(3_000):
        sid = ("a", "a", "b", "c")[i % 4]
        opened = end - timedelta(minutes=int(rng.integers(1, 60 * 24 * 500)))
        if i == 0:      # d: one ticket, in the current window only
            sid, opened = "d", end - timedelta(days=3)
        took = timedelta(seconds=int(rng.choice([0, 59, 60, 61, 7_261,
                                                 int(rng.integers(0, 900_000))])))
        rows.append({"id": f"T{i}", "service": sid,
                     "type": ("incident", "request", "question")[rng.integers(3)],
                     "opened_at": opened.isoformat() + "Z",
                     "resolved_at": "" if i % 11 == 0 else (opened + took).isoformat() + "Z",
                     "satisfaction": maybe(int(rng.integers(0, 11))),
                     "lost_minutes": maybe(int(rng.integers(0, 600))),
                     "reopened": maybe(int(rng.integers(0, 3))),
                     "reassignments": maybe(int(rng.integers(0, 5))),
                     "requester_group": ("staff", "shoppers", "partners", "")[i % 4 if i % 7
                                                                               else 3]})
    for i in range(30):     # e: equal tickets, whose spreads must be exactly 0 (Welford's)
        opened = end - timedelta(days=2 + 15 * i, hours=i)
        rows.append({"id": f"E{i}", "service": "e", "type": "incident",
                     "opened_at": opened.isoformat() + "Z",
                     "resolved_at": (opened + timedelta(seconds=7_261)).isoformat() + "Z",
                     "satisfaction": 7, "lost_minutes": 30, "reopened": 0,
                     "reassignments": 2, "requester_group": "staff"})
    return b.rows("tickets", rows).write("csv")


def _same(got: Any, want: Any, where: tuple[Any, ...] = ()) -> None:
    """Equal key for key (a row's columns in the same order; the engine's rows come in any
    order); floats exact but for the standard deviations and log means (``_sd``, ``log_``),
    whose last bits follow the engine's partial sums."""
    if isinstance(want, dict):
        if "service" in want:
            assert list(got) == list(want), where
        assert got.keys() == want.keys(), where
        for k in want:
            _same(got[k], want[k], (*where, k))
        return
    name = str(where[-1])
    if isinstance(want, float) and ("_sd" in name or name.startswith("log_")) and want:
        assert isinstance(got, float) and math.isclose(got, want, rel_tol=1e-12), where
    else:
        assert type(got) is type(want) and (got == want or (got != got and want != want)), (
            where, got, want)


@pytest.mark.parametrize("coded", [True, False])
def test_numpy_facts_and_resolution_are_the_engines(tmp_path: Path, coded: bool) -> None:
    pkg = _package(tmp_path)
    loaded = load_package(pkg)
    signals = loaded.signals if coded else plain_signals(pkg)
    common = split_settings(loaded.model.settings, CommonSpec)
    ctx = CheckContext(loaded.model, signals, Window(AS_OF, common.window_days,
                                                     common.baseline_days), common)
    assert tickets._in_numpy(ctx)
    facts, resolution = tickets._both(ctx)
    want_facts, want_resolution = tickets.engine_facts(ctx), tickets.engine_resolution(ctx)
    assert len(want_facts) == 4 and len(want_resolution["baseline"]) == 7
    assert want_resolution["current"]["e", "incident"]["log_sd"] == 0.0
    assert want_facts["internal", "baseline"]["e"]["satisfaction_sd"] == 0.0
    assert want_facts["internal", "current"]["d"]["n"] == 1        # open, unrated or not
    assert "d" not in want_facts["internal", "baseline"]
    _same(facts, want_facts)
    _same(resolution, want_resolution)
    assert tickets.ticket_facts(ctx, "internal", "current") == facts["internal", "current"]
    assert tickets.internal_resolution(ctx, "baseline") == resolution["baseline"]


def test_a_window_without_tickets_is_empty_as_on_the_engine(tmp_path: Path) -> None:
    loaded = load_package(_package(tmp_path))
    common = split_settings(loaded.model.settings, CommonSpec)
    ctx = CheckContext(loaded.model, loaded.signals, Window(AS_OF - timedelta(days=2_000),
                                                            91, 364), common)
    assert tickets._both(ctx) == (tickets.engine_facts(ctx), tickets.engine_resolution(ctx))
    assert tickets._both(ctx) == ({}, {"current": {}, "baseline": {}})
