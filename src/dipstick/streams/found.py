"""What discovery finds in an event log: the process map, variants, per-activity work, wait and
rework, and lead time — plain data, whichever engine computed it (:mod:`dipstick.streams.discover`
on Narwhals, :mod:`dipstick.streams.on_duckdb` as DuckDB SQL). No engine import here, so the
``streams`` command loads only what it runs."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from dipstick.streams import StepMetrics, StreamMetrics
from dipstick.waiting import WAITING_PREFIXES

DEFAULT_WAITING = WAITING_PREFIXES

DAYS_PER_MONTH = 365.25 / 12
THROUGHPUT_QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9, 0.95)


@dataclass(frozen=True)
class Edge:
    """One directly-follows pair: how often ``target`` came right after ``source`` in a case,
    and the time between them (``source`` ending → ``target`` starting), in seconds."""

    source: str
    target: str
    count: int
    mean_seconds: float
    median_seconds: float
    min_seconds: float
    max_seconds: float


@dataclass(frozen=True)
class Variant:
    activities: tuple[str, ...]
    cases: int
    share: float
    mean_throughput_seconds: float


@dataclass(frozen=True)
class ActivityStats:
    """What one activity costs the stream, per visit and in total over all cases."""

    name: str
    waiting: bool
    visits: int
    cases: int
    order: float                    # mean position of its first visit in a case (map order)
    process_seconds_mean: float | None  # start → complete per visit (lifecycle logs only)
    to_next_seconds_mean: float | None  # end of a visit → the case's next event
    to_next_seconds_median: float | None
    work_seconds: float             # Σ over cases: time counted as work
    wait_seconds: float             # Σ over cases: time counted as wait
    rework_visits: int
    rework_cases: int
    rework_seconds: float           # Σ over cases: work in repeated visits
    services: tuple[str, ...] = ()
    wait_seconds_sq: float = 0.0    # Σ over visits of wait²: the spread a comparison needs

    @property
    def wait_seconds_sd(self) -> float | None:
        """Standard deviation of the wait per visit (None with fewer than two visits)."""
        n = self.visits
        if n < 2:
            return None
        mean = self.wait_seconds / n
        return math.sqrt(max(0.0, (self.wait_seconds_sq - n * mean * mean) / (n - 1)))

    @property
    def complete_accurate(self) -> float:
        """%C&A: the share of the activity's cases that never had to redo it."""
        return 1 - self.rework_cases / self.cases if self.cases else 1.0


@dataclass(frozen=True)
class Throughput:
    """Case throughput (lead) time, first event → last event, in seconds."""

    cases: int
    mean: float
    quantiles: tuple[tuple[float, float], ...]
    max: float

    def quantile(self, q: float) -> float:
        return dict(self.quantiles)[q]


@dataclass(frozen=True)
class Discovery:
    """A process as its event log shows it."""

    process: str | None
    events: int
    cases: int
    first: datetime | None
    last: datetime | None
    lifecycle: bool
    collapsed: bool
    edges: tuple[Edge, ...]
    start_activities: dict[str, int]
    end_activities: dict[str, int]
    variants: tuple[Variant, ...]           # the most frequent, most frequent first
    variant_count: int
    activities: tuple[ActivityStats, ...]   # in map order
    throughput: Throughput | None
    handovers_per_case: float | None        # resource changes between visits (None: no resources)
    cases_with_handover: int | None
    unpaired_starts: int = 0
    last_start: datetime | None = None      # the latest case start (arrivals end here)
    waiting_prefixes: tuple[str, ...] = DEFAULT_WAITING
    _by_name: dict[str, ActivityStats] = field(default_factory=dict, repr=False, compare=False)

    @property
    def main_path(self) -> Variant | None:
        """The happy path: the most frequent variant."""
        return self.variants[0] if self.variants else None

    @property
    def cases_per_month(self) -> float | None:
        """Arrivals: cases over the span of their starts (not to the last event — an export
        of a few weeks' cases can end with closures months later); None under a week."""
        end = self.last_start or self.last
        if self.first is None or end is None:
            return None
        days = (end - self.first).total_seconds() / 86_400
        return self.cases / (days / DAYS_PER_MONTH) if days >= 7 else None

    @property
    def rework_hours_per_case(self) -> float:
        return sum(a.rework_seconds for a in self.activities) / 3600 / max(self.cases, 1)

    @property
    def wait_hours_per_case(self) -> float:
        return sum(a.wait_seconds for a in self.activities) / 3600 / max(self.cases, 1)

    def stream(self, id: str, name: str, runs_per_month: float | None = None,
               services: Sequence[str] = ()) -> StreamMetrics:
        """The discovered process as a value stream map: one step per activity, in map order,
        with per-case average work and wait (so the steps add up to the mean lead time) and the
        measured rework; ``services`` back every step whose events name none."""
        n = max(self.cases, 1)
        steps = tuple(
            StepMetrics(a.name, a.work_seconds / 60 / n, a.wait_seconds / 60 / n,
                        a.complete_accurate, a.services or tuple(services),
                        rework_minutes=a.rework_seconds / 60 / n)
            for a in self.activities)
        runs = runs_per_month if runs_per_month is not None else self.cases_per_month
        return StreamMetrics(id, name, steps, runs, discovered=True)

    def to_json(self) -> dict[str, Any]:
        t = self.throughput
        return {
            "process": self.process, "events": self.events, "cases": self.cases,
            "first": self.first.isoformat() if self.first else None,
            "last": self.last.isoformat() if self.last else None,
            "reading": "lifecycle" if self.lifecycle else "state",
            "collapsed": self.collapsed, "waiting_prefixes": list(self.waiting_prefixes),
            "cases_per_month": self.cases_per_month,
            "throughput_seconds": None if t is None else {
                "mean": t.mean, "max": t.max,
                "quantiles": {f"p{round(q * 100)}": v for q, v in t.quantiles}},
            "wait_hours_per_case": self.wait_hours_per_case,
            "rework_hours_per_case": self.rework_hours_per_case,
            "handovers_per_case": self.handovers_per_case,
            "cases_with_handover": self.cases_with_handover,
            "unpaired_starts": self.unpaired_starts,
            "start_activities": self.start_activities, "end_activities": self.end_activities,
            "activities": [{
                "name": a.name, "waiting": a.waiting, "visits": a.visits, "cases": a.cases,
                "process_seconds_mean": a.process_seconds_mean,
                "to_next_seconds_mean": a.to_next_seconds_mean,
                "to_next_seconds_median": a.to_next_seconds_median,
                "work_hours": a.work_seconds / 3600, "wait_hours": a.wait_seconds / 3600,
                "rework_visits": a.rework_visits, "rework_cases": a.rework_cases,
                "rework_hours": a.rework_seconds / 3600,
                "complete_accurate": a.complete_accurate, "services": list(a.services),
            } for a in self.activities],
            "edges": [{"source": e.source, "target": e.target, "count": e.count,
                       "mean_seconds": e.mean_seconds, "median_seconds": e.median_seconds,
                       "min_seconds": e.min_seconds, "max_seconds": e.max_seconds}
                      for e in self.edges],
            "variant_count": self.variant_count,
            "variants": [{"activities": list(v.activities), "cases": v.cases, "share": v.share,
                          "mean_throughput_seconds": v.mean_throughput_seconds}
                         for v in self.variants],
        }
