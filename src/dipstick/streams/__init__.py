"""Value stream maps: the classic VSM measures of a stream, given step by step or discovered.

Hand-given steps are measured here; discovery from event logs (:mod:`dipstick.streams.discover`)
produces the same :class:`StreamMetrics`, so the `flow` indicator, the CLI and the pictures read
one shape whatever the source.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:   # the pydantic model, not needed to discover a log file
    from dipstick.model import Step, ValueStream


@dataclass(frozen=True)
class StepMetrics:
    name: str
    process_minutes: float
    wait_minutes: float
    complete_accurate: float
    services: tuple[str, ...]
    # Measured from an event log; for hand-given steps None, and rework is estimated from %C&A.
    rework_minutes: float | None = None
    # A hand-given step's earlier map (the model's StepBaseline), as step metrics.
    baseline: StepMetrics | None = None

    @property
    def lead_minutes(self) -> float:
        return self.process_minutes + self.wait_minutes

    @property
    def rework(self) -> float:
        """Minutes of rework per run: measured when discovered; for a hand-given step, the
        expected redo of its process time when only %C&A of items pass (p/C&A − p)."""
        if self.rework_minutes is not None:
            return self.rework_minutes
        ca = self.complete_accurate
        return self.process_minutes * (1 - ca) / ca if ca > 0 else 0.0


@dataclass(frozen=True)
class StreamMetrics:
    """Lead time, process time, activity ratio (flow efficiency), rolled %C&A and bottleneck."""

    id: str
    name: str
    steps: tuple[StepMetrics, ...]
    runs_per_month: float | None = None
    discovered: bool = False

    @property
    def lead_minutes(self) -> float:
        return sum(s.lead_minutes for s in self.steps)

    @property
    def process_minutes(self) -> float:
        return sum(s.process_minutes for s in self.steps)

    @property
    def activity_ratio(self) -> float | None:
        """Flow efficiency: the share of the lead time in which work is done on the item."""
        lead = self.lead_minutes
        return self.process_minutes / lead if lead else None

    @property
    def rolled_complete_accurate(self) -> float:
        """The chance an item passes every step right first time: the product of the steps'."""
        return math.prod(s.complete_accurate for s in self.steps)

    @property
    def bottleneck(self) -> StepMetrics | None:
        """The step where most of the lead time goes (its wait plus its process time): the
        first place to look when the stream is slow."""
        return max(self.steps, key=lambda s: s.lead_minutes, default=None)

    def to_json(self) -> dict[str, object]:
        neck = self.bottleneck
        return {
            "id": self.id, "name": self.name, "runs_per_month": self.runs_per_month,
            "source": "event_log" if self.discovered else "steps",
            "lead_minutes": self.lead_minutes, "process_minutes": self.process_minutes,
            "activity_ratio": self.activity_ratio,
            "rolled_complete_accurate": self.rolled_complete_accurate,
            "bottleneck": neck.name if neck else None,
            "steps": [{"name": s.name, "process_minutes": s.process_minutes,
                       "wait_minutes": s.wait_minutes, "lead_minutes": s.lead_minutes,
                       "complete_accurate": s.complete_accurate, "rework_minutes": s.rework,
                       "services": list(s.services)}
                      for s in self.steps],
        }


def _step(s: Step) -> StepMetrics:
    b = s.baseline
    before = None if b is None else StepMetrics(s.name, b.process_minutes, b.wait_minutes,
                                                b.complete_accurate, s.services)
    return StepMetrics(s.name, s.process_minutes, s.wait_minutes, s.complete_accurate, s.services,
                       baseline=before)


def measure_stream(stream: ValueStream) -> StreamMetrics:
    """The VSM measures of a hand-given stream."""
    return StreamMetrics(stream.id, stream.name, tuple(_step(s) for s in stream.steps),
                         stream.runs_per_month)
