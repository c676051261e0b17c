"""alignment — the output no longer connects to an outcome.

Value links are where IT outputs meet business outcomes. A service that costs money with no link,
links only to outcomes that are over, or serves outcomes far off their KPI target spends money
the organisation cannot connect to a result. The leak is the share of the run cost so spent.
"""

from __future__ import annotations

from dataclasses import dataclass

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
from dipstick.model import Service

CAUSE = "alignment"
ACTION = "Reconnect or stop: link the service to a live outcome with its owner, or stop it."


class AlignmentSpec(Spec):
    kpi_gap: Threshold = Field(Threshold(0.10, 0.25),
                               description="contribution-weighted relative gap to KPI target")


@dataclass(frozen=True)
class AlignmentMeasures:
    kpi_latest: dict[str, float]
    costs: dict[str, float]


def measure(ctx: CheckContext, spec: AlignmentSpec) -> AlignmentMeasures:
    latest: dict[str, float] = {}
    if ctx.signals.has("kpis"):
        w = ctx.window
        lf = (ctx.signals.frame("kpis").filter(between("date", w.start, w.end))
              .with_columns(last=nw.col("date").max().over("outcome"))
              .filter(nw.col("date") == nw.col("last"))
              .group_by("outcome").agg(nw.col("value").cast(nw.Float64).mean()))
        latest = {r["outcome"]: r["value"] for r in collect(lf)}
    return AlignmentMeasures(latest, monthly_costs(ctx))


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
        o = ctx.model.outcome(v.outcome)
        if o is None or o.status != "active" or o.kpi is None:
            continue
        actual = m.kpi_latest.get(o.id)
        if actual is None:
            ev.append(evidence(f"kpi:{o.id}", f"KPI {o.kpi.name}", None, None, w.period,
                               note="no KPI actual in the current window"))
            continue
        gap = kpi_shortfall(o.kpi.target, actual, o.kpi.direction)
        weighted_gap += v.contribution * gap
        known += v.contribution
        ev.append(fact(f"kpi:{o.id}", f"KPI {o.kpi.name} ({o.name})", actual, w.period,
                       Status.OK, note=f"target {o.kpi.target:g} ({o.kpi.direction}), "
                       f"gap {gap:.0%}"))
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
