"""flow — value waits or is reworked in the value stream.

Judged on the steps that use the service, of hand-given value stream maps and of streams
discovered from the ``events`` table, so a long wait at another service's step does not blame
this one. A service no stream step uses is ``n/a``: flow cannot apply to it.

Each step against itself first: how long a step waits and how often its work is redone differ
by nature (a hardware delivery waits days, a password reset minutes), so a ``leak`` needs the
step to have got worse than its own baseline — the event log's cases of the baseline window,
or the figures of an earlier map (a step's ``baseline``). Flow efficiency and %C&A as levels
are shown and can raise at most ``watch``.
"""

from __future__ import annotations

from dataclasses import dataclass

import narwhals as nw
import numpy as np
from pydantic import Field

from dipstick.engine import between, collect
from dipstick.findings import (
    CacheKey,
    CheckContext,
    Evidence,
    Finding,
    LeakEstimate,
    Spec,
    Status,
    Threshold,
    conclude,
    evidence,
    evolve,
    fact,
    not_applicable,
    sig,
)
from dipstick.indicators.base import Indicator, money
from dipstick.indicators.common import shift_evidence, value_streams
from dipstick.indicators.confidence import at_most_watch, scaled, tested
from dipstick.model import Service
from dipstick.shifts.detect import Shift, detect
from dipstick.shifts.series import Series, SeriesKey, week_index
from dipstick.stats import Test, means, two_proportions
from dipstick.streams import StepMetrics, StreamMetrics
from dipstick.streams.discover import ActivityStats
from dipstick.streams.package import PackageStream, package_streams
from dipstick.streams.visits import timed_visits

CAUSE = "flow"
ACTION = "Map and fix the value stream: cut the waits and the rework at this service's steps."


class FlowSpec(Spec):
    flow_efficiency: Threshold = Field(Threshold(0.25, 0.10),
                                       description="process ÷ (process + wait) at its steps "
                                                   "(a level: at most watch)")
    step_complete_accurate: Threshold = Field(Threshold(0.90, 0.80),
                                              description="lowest %C&A at its steps "
                                                          "(a level: at most watch)")
    wait_ratio: Threshold = Field(Threshold(1.3, 1.6),
                                  description="wait per visit of a step, now ÷ its baseline")
    rework_rise: Threshold = Field(Threshold(4.0, 7.0),
                                   description="share of a step's cases redone, now − baseline "
                                               "(percentage points)")
    flow_min_cases: int = Field(20, ge=2, description="cases a step needs in each window")
    cost_of_delay_share: float = Field(0.1, ge=0, le=1,
                                       description="a waiting hour costs this × hourly rate")


@dataclass(frozen=True)
class StepView:
    """One step a service backs, now and (where known) before: the step metrics of the map, and
    for a discovered stream the activity's own counts in each window."""

    stream: StreamMetrics
    step: StepMetrics
    now: ActivityStats | None = None
    before_step: StepMetrics | None = None
    before: ActivityStats | None = None


@dataclass(frozen=True)
class FlowMeasures:
    steps: dict[str, list[StepView]]


# stream id → activity → its weekly mean wait per visit and share of rework visits over the
# baseline and current windows: what dates a discovered step's leak, read only for a stream
# with a step past its line
WEEKLY: CacheKey[dict[str, dict[str, tuple[Series, Series]]]] = CacheKey("flow weekly")


def _weekly(ctx: CheckContext, stream: str) -> dict[str, tuple[Series, Series]]:
    known = ctx.cache.get(WEEKLY, dict)
    if stream not in known:
        ps = next((p for p in value_streams(ctx) if p.stream.id == stream), None)
        known[stream] = {} if ps is None else _read_weekly(ctx, ps)
    return known[stream]


def _read_weekly(ctx: CheckContext, ps: PackageStream) -> dict[str, tuple[Series, Series]]:
    ref = ps.stream.event_log
    if ref is None or not ctx.signals.has("events"):
        return {}
    w = ctx.window
    events = ctx.signals.frame("events").filter(between("timestamp", w.baseline_start, w.end))
    v = timed_visits(events, process=ref.process, waiting=ref.waiting, collapse=ref.collapse)
    rows = collect(v.with_columns(wk=week_index("start", v)).group_by("activity", "wk")
                   .agg(wait=nw.col("wait_s").mean(),
                        rework=nw.col("rework").cast(nw.Float64).mean()))
    by: dict[str, list[tuple[int, float, float]]] = {}
    for r in rows:
        by.setdefault(r["activity"], []).append((int(r["wk"]), float(r["wait"] or 0.0),
                                                 float(r["rework"] or 0.0)))
    out = {}
    for act, xs in by.items():
        xs.sort()
        weeks = np.array([x[0] for x in xs], dtype=np.int64)
        out[act] = tuple(
            Series(SeriesKey("step", f"{ps.stream.id}/{act}", metric), weeks,
                   np.array([x[i] for x in xs], dtype=np.float64), higher_is_worse=True)
            for i, metric in ((1, "step_wait"), (2, "step_rework")))
    return out  # type: ignore[return-value]


def _dated(ctx: CheckContext, views: list[StepView], ev: list[Evidence]) -> Shift | None:
    """The shift for the worse behind the step comparisons past their watch line: per step,
    the latest bad shift in its weekly wait (or rework) series; the earliest of those."""
    found = []
    for v in views:
        for metric, i in (("wait_ratio", 0), ("rework_rise", 1)):
            key = f"{metric}:{v.stream.id}:{v.step.name}"
            if not any(e.metric == key and e.status in (Status.WATCH, Status.LEAK) for e in ev):
                continue
            series = _weekly(ctx, v.stream.id).get(v.step.name)
            if series is None:
                continue
            bad = [s for s in detect(series[i]) if s.bad and s.date <= ctx.window.as_of]
            if bad:
                found.append(bad[-1])
    return min(found, key=lambda s: s.date) if found else None


def _activities(ps: PackageStream) -> dict[str, ActivityStats]:
    return {} if ps.discovery is None else {a.name: a for a in ps.discovery.activities}


def measure(ctx: CheckContext, spec: FlowSpec) -> FlowMeasures:
    w = ctx.window
    earlier = {ps.stream.id: ps for ps in package_streams(ctx.model, ctx.signals,
                                                          w.baseline_start, w.start, w.end)
               if ps.discovery is not None}
    steps: dict[str, list[StepView]] = {}
    for ps in value_streams(ctx):
        acts = _activities(ps)
        old = earlier.get(ps.stream.id) if ps.metrics.discovered else None
        old_acts = _activities(old) if old is not None else {}
        old_steps = {st.name: st for st in old.metrics.steps} if old is not None else {}
        for st in ps.metrics.steps:
            view = (StepView(ps.metrics, st, acts.get(st.name), old_steps.get(st.name),
                             old_acts.get(st.name)) if ps.metrics.discovered
                    else StepView(ps.metrics, st, before_step=st.baseline))
            for s in st.services:
                steps.setdefault(s, []).append(view)
    return FlowMeasures(steps)


def _source(vs: StreamMetrics) -> str:
    return "discovered from the event log" if vs.discovered else "hand-given"


LEVEL = "a level, at most watch: a leak needs the step worse than its own baseline"


def _wait_test(now: ActivityStats, before: ActivityStats) -> Test | None:
    """Mean wait per visit, now ÷ before: Welch on the difference, mapped to a ratio."""
    m0 = before.wait_seconds / before.visits
    if m0 <= 0:
        return None
    test = means(now.wait_seconds / now.visits, now.wait_seconds_sd or 0.0, now.visits,
                 m0, before.wait_seconds_sd or 0.0, before.visits, null=0.0)
    if test is None:
        return None
    return scaled(test, 1 / m0, 1.0, f"{now.visits} vs {before.visits} visits")


def _compare(v: StepView, spec: FlowSpec, period: str) -> list[Evidence]:
    """The step against its own baseline: its wait per visit and the share of its work redone."""
    st, b = v.step, v.before_step
    where = f"{v.stream.name} › {st.name}"
    out: list[Evidence] = []
    if v.now is not None and v.before is not None:        # discovered: counts in both windows
        now, before = v.now, v.before
        if min(now.cases, before.cases) < spec.flow_min_cases:
            return [evidence(f"wait_ratio:{v.stream.id}:{st.name}", f"Wait at {where} vs "
                             "baseline", None, spec.wait_ratio, period,
                             note=f"{now.cases} vs {before.cases} cases (fewer than "
                                  f"{spec.flow_min_cases}): not judged")]
        if now.wait_seconds > 0 or before.wait_seconds > 0:
            test = _wait_test(now, before)
            m0 = before.wait_seconds / before.visits
            out.append(tested(f"wait_ratio:{v.stream.id}:{st.name}", f"Wait at {where} vs "
                              "baseline", (now.wait_seconds / now.visits) / m0 if m0 else None,
                              spec.wait_ratio, period, test, unit="×",
                              baseline=round(m0 / 3600, 4),
                              note=f"{now.wait_seconds / now.visits / 3600:.1f} h vs "
                                   f"{m0 / 3600:.1f} h a visit", relative=True))
        if now.work_seconds > 0 or now.rework_cases or before.rework_cases:
            test = two_proportions(now.rework_cases, now.cases, before.rework_cases,
                                   before.cases)
            out.append(tested(f"rework_rise:{v.stream.id}:{st.name}", f"Rework at {where} vs "
                              "baseline", 100 * (now.rework_cases / now.cases
                                                 - before.rework_cases / before.cases),
                              spec.rework_rise, period,
                              scaled(test, 100.0, 0.0) if test else None, unit=" pts",
                              baseline=round(100 * before.rework_cases / before.cases, 2),
                              sample="cases redone", relative=True))
    elif b is not None:                                    # hand-given: an earlier map
        if b.wait_minutes > 0:
            out.append(evidence(f"wait_ratio:{v.stream.id}:{st.name}", f"Wait at {where} vs "
                                "the earlier map", st.wait_minutes / b.wait_minutes,
                                spec.wait_ratio, period, unit="×", baseline=b.wait_minutes,
                                note=f"{st.wait_minutes:g} min vs {b.wait_minutes:g} min a run, "
                                     "hand-given"))
        out.append(evidence(f"rework_rise:{v.stream.id}:{st.name}", f"Rework at {where} vs the "
                            "earlier map", 100 * (b.complete_accurate - st.complete_accurate),
                            spec.rework_rise, period, unit=" pts",
                            baseline=round(100 * (1 - b.complete_accurate), 2),
                            note=f"%C&A {st.complete_accurate:.0%} vs {b.complete_accurate:.0%},"
                                 " hand-given"))
    return out


def _excess(v: StepView) -> tuple[float, float]:
    """Minutes of rework and of wait per run beyond the step's baseline (its level without
    one): what the leak prices."""
    st, b = v.step, v.before_step
    if b is None:
        return st.rework, st.wait_minutes
    return max(0.0, st.rework - b.rework), max(0.0, st.wait_minutes - b.wait_minutes)


def assess(service: Service, m: FlowMeasures, ctx: CheckContext, spec: FlowSpec) -> Finding:
    mine = m.steps.get(service.id, [])
    if not mine:
        return not_applicable(service.id, CAUSE, "in no value stream: no step uses the service "
                              "(hand-given or discovered from the events table)", ACTION)
    period = str(ctx.window.as_of)
    process = sum(v.step.process_minutes for v in mine)
    wait = sum(v.step.wait_minutes for v in mine)
    worst = min(mine, key=lambda v: v.step.complete_accurate)
    # with a baseline the trend judges and the levels are context; without one a low level
    # asks for a look (watch), never more
    judged = not any(v.before_step is not None or v.before is not None for v in mine)
    context = "" if judged else "; context: the steps are judged against their baselines"
    ev: list[Evidence] = [
        at_most_watch(evidence(
            "flow_efficiency", "Flow efficiency at its steps",
            process / (process + wait) if process + wait else None,
            spec.flow_efficiency if judged else None, period,
            note=f"{process / 60:.1f} h process, {wait / 60:.1f} h wait per run{context}"),
            LEVEL),
        at_most_watch(evidence(
            "step_complete_accurate", "Lowest %C&A at its steps", worst.step.complete_accurate,
            spec.step_complete_accurate if judged else None, period,
            note=f"{worst.stream.name} › {worst.step.name} ({_source(worst.stream)}){context}"),
            LEVEL),
    ]
    for v in mine:
        ev += _compare(v, spec, f"{ctx.window.baseline_period} → {ctx.window.period}"
                       if v.stream.discovered else period)
    streams = sorted({v.stream.id: v.stream for v in mine}.values(), key=lambda s: s.id)
    for vs in streams:
        ev.append(fact(f"rolled_ca:{vs.id}", f"Rolled %C&A of {vs.name}",
                       round(vs.rolled_complete_accurate, 4), period, Status.OK,
                       note=f"context: the whole stream, {_source(vs)}"))
    money_total = hours_total = 0.0
    parts = []
    unpriced = []
    for vs in streams:
        views = [v for v in mine if v.stream.id == vs.id]
        if vs.runs_per_month is None:
            unpriced.append(vs.id)
            continue
        rework_h = sum(_excess(v)[0] for v in views) / 60
        wait_h = sum(_excess(v)[1] for v in views) / 60
        hours = vs.runs_per_month * rework_h
        delay = vs.runs_per_month * wait_h * spec.cost_of_delay_share * ctx.rate
        hours_total += hours
        money_total += hours * ctx.rate + delay
        parts.append(f"{sig(vs.runs_per_month)} runs of {vs.id} × ({sig(rework_h)} h rework × "
                     f"{money(ctx.rate)} + {sig(wait_h)} h wait × {spec.cost_of_delay_share:.0%}"
                     f" × {money(ctx.rate)}) {ctx.currency}")
    formula = "; ".join(parts) or "not priced"
    if any(v.before_step is not None for v in mine):
        formula += " (rework and wait beyond the steps' baselines)"
    if unpriced:
        formula += f" (streams without runs_per_month are not priced: {', '.join(unpriced)})"
    found = conclude(service.id, CAUSE, ev, LeakEstimate(money_total, hours_total, formula),
                     ACTION)
    if found.status not in (Status.WATCH, Status.LEAK):
        return found
    shift = _dated(ctx, mine, ev)     # a discovered step's leak has a start
    if shift is None:
        return found
    return evolve(found, since=shift.date,
                  evidence=(*found.evidence, shift_evidence(shift, found.status)))


INDICATOR = Indicator(
    cause=CAUSE,
    title="Flow",
    question="Does value wait or get reworked at this service's value stream steps?",
    action=ACTION,
    spec=FlowSpec,
    measure=measure,
    assess=assess,
)
