"""flow — value waits or is reworked in the value stream.

Judged on the steps that use the service, of hand-given value stream maps and of streams
discovered from the ``events`` table, so a long wait at another service's step does not blame
this one. A service no stream step uses is ``n/a``: flow cannot apply to it.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import Field

from dipstick.findings import (
    CheckContext,
    Evidence,
    Finding,
    LeakEstimate,
    Spec,
    Status,
    Threshold,
    conclude,
    evidence,
    fact,
    not_applicable,
)
from dipstick.indicators.base import Indicator, money
from dipstick.indicators.common import value_streams
from dipstick.model import Service
from dipstick.streams import StepMetrics, StreamMetrics

CAUSE = "flow"
ACTION = "Map and fix the value stream: cut the waits and the rework at this service's steps."


class FlowSpec(Spec):
    flow_efficiency: Threshold = Field(Threshold(0.25, 0.10),
                                       description="process ÷ (process + wait) at its steps")
    step_complete_accurate: Threshold = Field(Threshold(0.90, 0.80),
                                              description="lowest %C&A at its steps")
    cost_of_delay_share: float = Field(0.1, ge=0, le=1,
                                       description="a waiting hour costs this × hourly rate")


@dataclass(frozen=True)
class FlowMeasures:
    steps: dict[str, list[tuple[StreamMetrics, StepMetrics]]]


def measure(ctx: CheckContext, spec: FlowSpec) -> FlowMeasures:
    steps: dict[str, list[tuple[StreamMetrics, StepMetrics]]] = {}
    for ps in value_streams(ctx):
        for st in ps.metrics.steps:
            for s in st.services:
                steps.setdefault(s, []).append((ps.metrics, st))
    return FlowMeasures(steps)


def _source(vs: StreamMetrics) -> str:
    return "discovered from the event log" if vs.discovered else "hand-given"


def assess(service: Service, m: FlowMeasures, ctx: CheckContext, spec: FlowSpec) -> Finding:
    mine = m.steps.get(service.id, [])
    if not mine:
        return not_applicable(service.id, CAUSE, "in no value stream: no step uses the service "
                              "(hand-given or discovered from the events table)", ACTION)
    period = str(ctx.window.as_of)
    process = sum(st.process_minutes for _, st in mine)
    wait = sum(st.wait_minutes for _, st in mine)
    worst = min(mine, key=lambda p: p[1].complete_accurate)
    ev: list[Evidence] = [
        evidence("flow_efficiency", "Flow efficiency at its steps",
                 process / (process + wait) if process + wait else None, spec.flow_efficiency,
                 period, note=f"{process / 60:.1f} h process, {wait / 60:.1f} h wait per run"),
        evidence("step_complete_accurate", "Lowest %C&A at its steps",
                 worst[1].complete_accurate, spec.step_complete_accurate, period,
                 note=f"{worst[0].name} › {worst[1].name} ({_source(worst[0])})"),
    ]
    streams = sorted({vs.id: vs for vs, _ in mine}.values(), key=lambda v: v.id)
    for vs in streams:
        ev.append(fact(f"rolled_ca:{vs.id}", f"Rolled %C&A of {vs.name}",
                       round(vs.rolled_complete_accurate, 4), period, Status.OK,
                       note=f"context: the whole stream, {_source(vs)}"))
    money_total = hours_total = 0.0
    parts = []
    unpriced = []
    for vs in streams:
        steps = [st for v, st in mine if v.id == vs.id]
        if vs.runs_per_month is None:
            unpriced.append(vs.id)
            continue
        rework_h = sum(st.rework for st in steps) / 60
        wait_h = sum(st.wait_minutes for st in steps) / 60
        hours = vs.runs_per_month * rework_h
        delay = vs.runs_per_month * wait_h * spec.cost_of_delay_share * ctx.rate
        hours_total += hours
        money_total += hours * ctx.rate + delay
        parts.append(f"{vs.runs_per_month:,.4g} runs of {vs.id} × ({rework_h:.1f} h rework × "
                     f"{money(ctx.rate)} + {wait_h:.1f} h wait × {spec.cost_of_delay_share:.0%}"
                     f" × {money(ctx.rate)}) {ctx.currency}")
    formula = "; ".join(parts) or "not priced"
    if unpriced:
        formula += f" (streams without runs_per_month are not priced: {', '.join(unpriced)})"
    return conclude(service.id, CAUSE, ev, LeakEstimate(money_total, hours_total, formula),
                    ACTION)


INDICATOR = Indicator(
    cause=CAUSE,
    title="Flow",
    question="Does value wait or get reworked at this service's value stream steps?",
    action=ACTION,
    spec=FlowSpec,
    measure=measure,
    assess=assess,
)
