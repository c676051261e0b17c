"""alignment — the output no longer connects to an outcome.

Value links are where IT outputs meet business outcomes. A service that costs money with no link,
links only to outcomes that are over, or serves outcomes far off their KPI target spends money
the organisation cannot connect to a result. The leak is the share of the run cost so spent.
A KPI that slid off its own baseline (tested on the KPI's values of both windows) is a leak
once sure; its distance to the target alone is a level, since targets are set high or low.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import narwhals as nw
from pydantic import Field

from dipstick.engine import between, collect
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
)
from dipstick.indicators.base import Indicator, money
from dipstick.indicators.common import monthly_costs
from dipstick.indicators.confidence import flipped, scaled, tested
from dipstick.model import Outcome, Service
from dipstick.stats import shift_of_means

CAUSE = "alignment"
ACTION = "Reconnect or stop: link the service to a live outcome with its owner, or stop it."


class AlignmentSpec(Spec):
    kpi_gap: Threshold = Field(Threshold(0.10, 0.25),
                               description="contribution-weighted relative gap to KPI target")
    kpi_drift: Threshold = Field(Threshold(0.10, 0.25),
                                 description="KPI's mean moved off its baseline mean, in the "
                                             "bad direction, as a share of the target")


# An active outcome's KPI as every service supporting it shows it: its shortfall (None without
# an actual in the window) and its evidence, the KPI's actual and its drift off its baseline
OutcomeKpi = tuple[float | None, tuple[Evidence, ...]]


@dataclass(frozen=True)
class AlignmentMeasures:
    kpi_latest: dict[str, float]
    costs: dict[str, float]
    # outcome → (mean, sd, n) of the KPI's values in the current and the baseline window
    kpi_now: dict[str, tuple[float, float, int]] = field(default_factory=dict)
    kpi_before: dict[str, tuple[float, float, int]] = field(default_factory=dict)
    # active outcome with a KPI → what ``assess`` shows of it (:func:`_outcome_kpis`)
    kpis: dict[str, OutcomeKpi] = field(default_factory=dict)


def _kpi_stats(ctx: CheckContext, start: datetime, end: datetime
               ) -> dict[str, tuple[float, float, int]]:
    lf = (ctx.signals.frame("kpis").filter(between("date", start, end))
          .group_by("outcome").agg(m=nw.col("value").cast(nw.Float64).mean(),
                                   sd=nw.col("value").cast(nw.Float64).std(),
                                   n=nw.len()))
    return {r["outcome"]: (float(r["m"]), float(r["sd"] or 0.0), int(r["n"]))
            for r in collect(lf) if r["m"] is not None}


def measure(ctx: CheckContext, spec: AlignmentSpec) -> AlignmentMeasures:
    latest: dict[str, float] = {}
    if not ctx.signals.has("kpis"):
        return AlignmentMeasures(latest, monthly_costs(ctx),
                                 kpis=_outcome_kpis(ctx, spec, latest, {}, {}))
    w = ctx.window
    lf = (ctx.signals.frame("kpis").filter(between("date", w.start, w.end))
          .with_columns(last=nw.col("date").max().over("outcome"))
          .filter(nw.col("date") == nw.col("last"))
          .group_by("outcome").agg(nw.col("value").cast(nw.Float64).mean()))
    latest = {r["outcome"]: r["value"] for r in collect(lf)}
    now, before = _kpi_stats(ctx, w.start, w.end), _kpi_stats(ctx, w.baseline_start, w.start)
    return AlignmentMeasures(latest, monthly_costs(ctx), now, before,
                             _outcome_kpis(ctx, spec, latest, now, before))


def _outcome_kpis(ctx: CheckContext, spec: AlignmentSpec, latest: dict[str, float],
                  now: dict[str, tuple[float, float, int]],
                  before: dict[str, tuple[float, float, int]]) -> dict[str, OutcomeKpi]:
    """Each active outcome's KPI shortfall and evidence, once per outcome: they depend on the
    outcome alone, not on the service that supports it. Built per service, the drift's test
    was made again for each of ~3,000 links to 163 outcomes on the large demo."""
    w = ctx.window
    out: dict[str, OutcomeKpi] = {}
    for o in ctx.model.outcomes:
        if o.status != "active" or o.kpi is None:
            continue
        actual = latest.get(o.id)
        if actual is None:
            out[o.id] = (None, (evidence(f"kpi:{o.id}", f"KPI {o.kpi.name}", None, None, w.period,
                                         note="no KPI actual in the current window"),))
            continue
        gap = kpi_shortfall(o.kpi.target, actual, o.kpi.direction)
        shown = fact(f"kpi:{o.id}", f"KPI {o.kpi.name} ({o.name})", actual, w.period, Status.OK,
                     note=f"target {o.kpi.target:g} ({o.kpi.direction}), gap {gap:.0%}")
        m1, m0 = now.get(o.id), before.get(o.id)
        out[o.id] = (gap, (shown,) if m1 is None or m0 is None else (
            shown, _drift(o, m1, m0, spec, f"{w.baseline_period} → {w.period}")))
    return out


def _drift(o: Outcome, now: tuple[float, float, int], before: tuple[float, float, int],
           spec: AlignmentSpec, period: str) -> Evidence:
    """The KPI's mean now against its own baseline mean, as a share of the target, positive in
    the bad direction: the KPI values of the two windows, tested against the baseline's spread
    (:func:`~dipstick.stats.shift_of_means`). A KPI's distance to
    its target is a level (targets are set high or low by nature); a KPI that slid off where
    it was is a change the service's value is judged on."""
    assert o.kpi is not None
    (m1, s1, n1), (m0, s0, n0) = now, before
    scale = abs(o.kpi.target) or 1.0
    up = o.kpi.direction == "up"
    test = shift_of_means(m1, s1, n1, m0, s0, n0, null=0.0, higher_is_worse=not up)
    if test is not None:
        test = scaled(flipped(test) or test if up else test, 1 / scale, 0.0)
    return tested(f"kpi_drift:{o.id}", f"KPI {o.kpi.name} off its baseline",
                  ((m0 - m1) if up else (m1 - m0)) / scale, spec.kpi_drift, period, test,
                  baseline=round(m0, 4), unit="", sample="KPI values", relative=True,
                  note=f"mean {m1:.4g} vs {m0:.4g} before, target {o.kpi.target:g}")


NO_OUTCOMES = ("dipstick.yaml names no outcomes yet: add the outcomes the services serve and "
               "link services to them (supports:) to judge alignment")


def kpi_shortfall(target: float, actual: float, direction: str) -> float:
    """Relative shortfall in the KPI's bad direction; 0 when on or beyond target."""
    if target == 0:
        return 0.0
    short = (target - actual) if direction == "up" else (actual - target)
    return max(0.0, short / abs(target))


def assess(service: Service, m: AlignmentMeasures, ctx: CheckContext,
           spec: AlignmentSpec) -> Finding:
    w, sid = ctx.window, service.id
    cost = m.costs.get(sid, 0.0)
    ev: list[Evidence] = []
    total = sum(v.contribution for v in service.supports)
    if not ctx.model.outcomes:
        # a starter model with no outcomes yet: a gap in the model, not a verdict on the service
        ev.append(fact("value_links", "Value links to outcomes", None, w.period, Status.UNKNOWN,
                       note=NO_OUTCOMES))
        return conclude(sid, CAUSE, ev, LeakEstimate.none("not estimated: " + NO_OUTCOMES),
                        ACTION)
    if not service.supports:
        status = Status.LEAK if cost > 0 and service.lifecycle in ("live", "retiring") else (
            Status.WATCH)
        ev.append(fact("value_links", "Value links to outcomes", 0.0, w.period, status,
                       note="the service supports no outcome"))
        leak = LeakEstimate(cost, 0.0, f"whole run cost {money(cost)} {ctx.currency}: "
                            "no outcome to connect it to")
        return conclude(sid, CAUSE, ev, leak, ACTION)
    over = [v for v in service.supports
            if (o := ctx.model.outcome(v.outcome)) is not None and o.status != "active"]
    over_share = sum(v.contribution for v in over) / total
    ev.append(fact("links_to_ended_outcomes", "Share of value links to ended outcomes",
                   over_share, w.period,
                   Status.LEAK if over_share >= 1 else Status.WATCH if over else Status.OK,
                   note=", ".join(f"{v.outcome} ({o.status})" for v in over
                                  if (o := ctx.model.outcome(v.outcome)))))
    weighted_gap, known = 0.0, 0.0
    for v in service.supports:
        kpi = m.kpis.get(v.outcome)     # None: no such outcome, not active, or no KPI
        if kpi is None:
            continue
        gap, shown = kpi
        ev += shown
        if gap is not None:
            weighted_gap += v.contribution * gap
            known += v.contribution
    gap_share = weighted_gap / known if known else None
    ev.append(evidence("kpi_gap", "KPI gap of supported outcomes (weighted)", gap_share,
                       spec.kpi_gap, w.period))
    share = min(1.0, over_share + (gap_share or 0.0) * (1 - over_share))
    leak = LeakEstimate(cost * share, 0.0,
                        f"run cost {money(cost)} {ctx.currency} × ({over_share:.0%} linked to "
                        f"ended outcomes + {gap_share or 0:.0%} KPI gap on the rest)")
    return conclude(sid, CAUSE, ev, leak, ACTION)


INDICATOR = Indicator(
    cause=CAUSE,
    title="Alignment",
    question="Does the service still connect to a live business outcome on target?",
    action=ACTION,
    spec=AlignmentSpec,
    measure=measure,
    assess=assess,
)
