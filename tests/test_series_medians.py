"""Medians of resolution hours: those grouped in NumPy for the ticket facts
(``indicators.ticket_arrays.grouped``) are DuckDB's ``median`` bit for bit on random groups
(ties, one value, negative values, even and odd sizes, the unfolded fallback), and the weekly
series' (the engine's) are a package's medians taken by hand, read coded and plain."""

from __future__ import annotations

import statistics
from collections import defaultdict
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from dipstick.findings import Window
from dipstick.indicators.ticket_arrays import grouped
from dipstick.package import load_package
from dipstick.shifts.series import build, week_start

from builder import AS_OF, PackageBuilder, plain_signals


@pytest.mark.parametrize("wide", [False, True])
def test_grouped_medians_are_duckdbs(wide: bool) -> None:
    rng = np.random.default_rng(11 + wide)
    n = 5_000
    groups = rng.choice(np.array([0, 3, 4, 9, 10, 57, 300, 301], dtype=np.int64), n)
    groups = np.concatenate([groups, [1_000]])                   # a group of one value
    values = rng.integers(-50, 400, n + 1) * (2 ** 50 if wide else 1)   # many ties
    got_groups, got = grouped(groups, values, 60.0)
    con = duckdb.connect()
    con.register("src", pa.table({"g": groups, "v": values}))
    want = con.execute("SELECT g, median(v / 60.0::DOUBLE) FROM src GROUP BY g ORDER BY g"
                       ).fetchall()
    assert got_groups.tolist() == [g for g, _ in want]
    assert got.tolist() == [m for _, m in want]          # exact, not approximately
    assert grouped(np.zeros(0, np.int64), np.zeros(0, np.int64), 60.0)[0].size == 0


def _package(root: Path) -> Path:
    b = PackageBuilder(root)
    for sid in ("a", "b", "c"):
        b.service(sid)
    rng = np.random.default_rng(5)
    rows = []
    for i in range(900):
        sid = ("a", "a", "b", "c")[i % 4]
        kind = "question" if sid == "c" else ("incident", "request", "question")[rng.integers(3)]
        opened = datetime.combine(AS_OF, datetime.min.time()) - timedelta(
            minutes=int(rng.integers(0, 60 * 24 * 70)))
        took = timedelta(seconds=int(rng.choice([0, 59, 60, 61, 3_600, 7_261,
                                                 int(rng.integers(0, 400_000))])))
        rows.append({"id": f"T{i}", "service": sid, "type": kind,
                     "opened_at": opened.isoformat() + "Z",
                     "resolved_at": "" if i % 13 == 0 else (opened + took).isoformat() + "Z",
                     "satisfaction": 8, "lost_minutes": 30, "reopened": 0,
                     "reassignments": 0, "requester_group": "staff"})
    return b.rows("tickets", rows).write("csv")


def _by_hand(pkg: Path, cut: datetime) -> dict[tuple[str, str], tuple[list[int], list[float]]]:
    """Per (service, type): its weeks with a resolved ticket and the median of whole minutes
    (truncated) / 60 — ``statistics.median``: the middle value or the mean of the middle two."""
    import csv

    hours: dict[tuple[str, str, int], list[float]] = defaultdict(list)
    with (pkg / "tickets.csv").open() as f:
        for r in csv.DictReader(f):
            opened = datetime.fromisoformat(r["opened_at"].rstrip("Z"))
            if not r["resolved_at"] or opened >= cut or r["type"] == "question":
                continue
            seconds = (datetime.fromisoformat(r["resolved_at"].rstrip("Z")) - opened
                       ).total_seconds()
            week = (week_start(opened.date()) - datetime(1970, 1, 5).date()).days // 7
            hours[r["service"], r["type"], week].append(int(seconds // 60) / 60.0)
    out: dict[tuple[str, str], tuple[list[int], list[float]]] = {}
    for (sid, kind, week), hs in sorted(hours.items()):
        weeks, values = out.setdefault((sid, kind), ([], []))
        weeks.append(week)
        values.append(statistics.median(sorted(hs)))
    return out


def test_the_weekly_resolution_medians_are_the_tickets_medians(tmp_path: Path) -> None:
    pkg = _package(tmp_path)
    loaded = load_package(pkg)
    end = Window(AS_OF).end
    cut = datetime.combine(week_start(end.date()), datetime.min.time())
    want = _by_hand(pkg, cut)
    assert len(want) == 4 and sum(len(w) for w, _ in want.values()) > 30
    for signals in (loaded.signals, plain_signals(pkg)):
        got = {(s.key.subject, s.key.part): (s.index.tolist(), s.values.tolist())
               for s in build(signals, loaded.model, end) if s.key.metric == "resolution_hours"}
        assert got == want

