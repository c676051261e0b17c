"""The synthetic demo organisation: a realistic data package with known, seeded leaks.

``generate`` writes Northwind Retail — its value model (``dipstick.yaml``), three years of
signals ending on a fixed as-of date, and ``ground_truth.json`` listing every seeded leak
(service, cause, onset, subtle or not) and every healthy service. The default organisation
(~70 services, CSV) is the first thing a new user runs; the large one (2,000+ services, 5M+
tickets, Parquet) is for load and scale testing. The same seed gives byte-identical files.

How it is built: :mod:`~dipstick.demo.catalog` (the value model), :mod:`~dipstick.demo.leaks`
(the seeding plan), :mod:`~dipstick.demo.signals`, :mod:`~dipstick.demo.tickets` and
:mod:`~dipstick.demo.voices` (the time series), :mod:`~dipstick.demo.writer` (the files).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa

from dipstick.demo import (
    catalog,
    events,
    extra,
    leaks,
    orgdata,
    signals,
    tickets,
    voices,
    writer,
)
from dipstick.demo.timeline import Timeline
from dipstick.demo.truth import GroundTruth, Leak
from dipstick.model import ValueModel
from dipstick.package.tables import FORMATS, TABLES

__all__ = ["GroundTruth", "Leak", "generate"]

Size = Literal["default", "large"]
LARGE_SERVICES = 2040
LARGE_TICKETS = 5_400_000


def generate(path: str | Path, *, seed: int = 7, size: Size = "default",
             progress: Callable[[str], None] | None = None) -> GroundTruth:
    """Write the demo organisation into the folder ``path`` and return its ground truth."""
    if size not in ("default", "large"):
        raise ValueError(f"size must be 'default' or 'large', not {size!r}")

    def step(what: str) -> None:
        if progress:
            progress(what)

    def rng(stream: int) -> np.random.Generator:
        return np.random.default_rng([seed, stream])

    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    tl = Timeline()
    step("value model")
    cat = catalog.named(rng(1), tl)
    if size == "large":
        extra.grow(cat, LARGE_SERVICES, rng(2), tl)
    plan = leaks.plan(cat, tl, rng(3), size)
    dau = signals.users_matrix(cat, plan.knobs, tl, rng(4))
    if size == "large":
        dau = _size_to(cat, plan.knobs, dau, tl, seed)
    doc = writer.value_model(cat, tl)
    if size == "default":   # one stream discovered from an event log (the large org: none)
        doc["value_streams"].append(events.STREAM)
    ValueModel.model_validate(doc)
    fmt = "parquet" if size == "large" else "csv"
    for table in TABLES:
        for ext in FORMATS:
            (folder / f"{table}{ext}").unlink(missing_ok=True)
    writer.write_model(folder, doc)
    builders: dict[str, Callable[[], pa.Table]] = {
        "usage": lambda: signals.usage_table(cat, dau, tl),
        "costs": lambda: signals.costs_table(cat, tl, rng(5)),
        "training": lambda: signals.training_table(cat, plan.knobs, tl, rng(6)),
        "changes": lambda: signals.changes_table(cat, plan.knobs, tl, rng(7)),
        "tickets": lambda: tickets.tickets_table(cat, plan.knobs, dau, tl, rng(8)),
        "surveys": lambda: voices.surveys_table(cat, plan.knobs, tl, rng(9)),
        "kpis": lambda: voices.kpis_table(cat, tl, rng(10)),
        "touchpoints": lambda: voices.touchpoints_table(cat, plan.knobs, tl, rng(11)),
    }
    if size == "default":
        builders["events"] = lambda: events.events_table(tl, rng(12))
    for name, build in builders.items():
        step(name)
        writer.write_table(folder, name, build(), fmt)
    truth = GroundTruth(seed, size, tl.as_of, plan.leaks, plan.healthy)
    truth.dump(folder)
    return truth


def _size_to(cat: catalog.Catalog, knobs: leaks.Knobs, dau: np.ndarray, tl: Timeline,
             seed: int) -> np.ndarray:
    """Scale the generated services' users so the large organisation has its ticket count."""
    named = {s[0] for s in orgdata.SERVICES}
    for _ in range(2):
        factor = LARGE_TICKETS / tickets.expected_count(cat, dau, knobs)
        for s in cat.services:
            if s.id not in named:
                s.users = round(s.users * factor)
        dau = signals.users_matrix(cat, knobs, tl, np.random.default_rng([seed, 4]))
    return dau
