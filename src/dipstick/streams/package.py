"""The value streams of a data package, whatever their source: hand-given steps, or discovered
from the package's ``events`` table for streams that name an ``event_log``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import narwhals as nw

from dipstick.engine import Signals
from dipstick.model import ValueModel, ValueStream
from dipstick.streams import StreamMetrics, measure_stream
from dipstick.streams.discover import Discovery, discover


@dataclass(frozen=True)
class PackageStream:
    """One value stream as measured, with its discovery when it came from the event log."""

    stream: ValueStream
    metrics: StreamMetrics
    discovery: Discovery | None = None


def recent_cases(events: nw.LazyFrame[Any], start: datetime, end: datetime,
                 until: datetime | None = None) -> nw.LazyFrame[Any]:
    """The events of the cases that began in ``[start, end)``, up to ``until`` (default
    ``end``): whole cases, so a case that began before the window does not show up with its
    first steps cut off. A baseline window's cases are followed to the check's end, so their
    last waits are not cut short where the baseline ends."""
    first = nw.col("timestamp").min().over("case_id")
    return (events.filter(nw.col("timestamp") < (until or end))
            .with_columns(_first=first)
            .filter((nw.col("_first") >= start) & (nw.col("_first") < end))
            .drop("_first"))


def package_streams(model: ValueModel, signals: Signals, start: datetime | None = None,
                    end: datetime | None = None,
                    until: datetime | None = None) -> tuple[PackageStream, ...]:
    """Every value stream of the model, measured. An ``event_log`` stream is discovered from the
    cases that began in ``[start, end)`` (runs per month: those cases ÷ the window's months,
    unless the stream states ``runs_per_month``) or, without a window, from the whole log (runs
    per month over the log's span); when the log has no such case, its hand-given steps (if any)
    stand in. A stream with neither is left out. ``until``: see :func:`recent_cases`."""
    out: list[PackageStream] = []
    for vs in model.value_streams:
        ref = vs.event_log
        if ref is not None and signals.has("events"):
            events = signals.frame("events")
            if start is not None and end is not None:
                events = recent_cases(events, start, end, until)
            found = discover(events, process=ref.process, waiting=ref.waiting,
                             collapse=ref.collapse)
            if found.cases:
                runs = vs.runs_per_month
                if runs is None and start is not None and end is not None:
                    runs = found.cases / ((end - start).days / (365.25 / 12))
                out.append(PackageStream(vs, found.stream(vs.id, vs.name, runs, ref.services),
                                         found))
                continue
        if vs.steps:
            out.append(PackageStream(vs, measure_stream(vs)))
    return tuple(out)
