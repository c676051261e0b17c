"""retirement — a service lives on after its value is gone.

Unused licences, a high cost per user, falling use, a passed end-of-life, a twin with the same
capability and no live outcome each say "retire or consolidate"; together they make the case.
"""

from __future__ import annotations

import statistics
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
)
from dipstick.indicators.base import Indicator, money
from dipstick.indicators.common import (
    active_users,
    monthly_costs,
    recent_users,
    settled_evidence,
    settled_shift,
)
from dipstick.model import Service

CAUSE = "retirement"
ACTION = "Retire or consolidate: plan the service's retirement or merge it with its twin."


class RetirementSpec(Spec):
    licence_utilisation: Threshold = Field(Threshold(0.6, 0.4), description="active ÷ licences")
    usage_trend: Threshold = Field(Threshold(-0.2, -0.4), description="current ÷ baseline − 1")
    cost_per_user_vs_median: Threshold = Field(Threshold(3.0, 5.0),
                                               description="÷ portfolio median")
    end_of_life_warning_days: int = Field(180, ge=0, description="watch before end-of-life")
    retirement_run_cost_share: float = Field(0.25, ge=0, le=1,
                                             description="share of run cost retiring saves")


@dataclass(frozen=True)
class RetirementMeasures:
    recent: dict[str, float]
    current: dict[str, float]
    baseline: dict[str, float]
    costs: dict[str, float]
    median_cost_per_user: float | None
    live_by_capability: dict[str, list[str]]


def measure(ctx: CheckContext, spec: RetirementSpec) -> RetirementMeasures:
    w = ctx.window
    recent = recent_users(ctx)
    costs = monthly_costs(ctx)
    per_user = [costs[s] / u for s, u in recent.items() if u > 0 and costs.get(s)]
    live: dict[str, list[str]] = {}
    for s in ctx.model.services:
        if s.lifecycle == "live" and s.capability:
            live.setdefault(s.capability, []).append(s.id)
    return RetirementMeasures(recent, active_users(ctx, w.start, w.end),
                              active_users(ctx, w.baseline_start, w.start), costs,
                              statistics.median(per_user) if per_user else None, live)


def assess(service: Service, m: RetirementMeasures, ctx: CheckContext,
           spec: RetirementSpec) -> Finding:
    w, sid = ctx.window, service.id
    ev: list[Evidence] = []
    users = m.recent.get(sid)
    cost = m.costs.get(sid, 0.0)
    utilisation = None
    if service.licences:
        utilisation = None if users is None else users / service.licences
        ev.append(evidence("licence_utilisation", "Licence utilisation", utilisation,
                           spec.licence_utilisation, "last 28 days",
                           note=f"{users or 0:.0f} of {service.licences} licences in use"
                           if users is not None else "no usage data"))
    cur, base = m.current.get(sid), m.baseline.get(sid)
    if cur is not None and base:
        ev.append(evidence("usage_trend", "Active users vs baseline", cur / base - 1,
                           spec.usage_trend, w.period, baseline=base))
    settled = settled_shift(ctx, "service", sid, "users")
    if settled is not None:
        if service.licences:
            ev += settled_evidence("licence_utilisation", "Licence utilisation", settled,
                                   spec.licence_utilisation, denominator=service.licences)
        if settled.before:
            ev.append(evidence("usage_trend_since_shift", "Active users since the shift",
                               settled.after / settled.before - 1, spec.usage_trend,
                               f"since {settled.date}", baseline=round(settled.before, 4),
                               note=f"level after the shift in the week of {settled.date}"))
    if users and cost and m.median_cost_per_user:
        ev.append(evidence("cost_per_user", "Cost per active user vs portfolio median",
                           (cost / users) / m.median_cost_per_user, spec.cost_per_user_vs_median,
                           w.period, baseline=m.median_cost_per_user, unit="×",
                           note=f"{money(cost / users)} {ctx.currency} per user a month"))
    if service.end_of_life:
        eol = service.end_of_life
        days_left = (eol - w.as_of).days
        status = (Status.LEAK if days_left < 0 else
                  Status.WATCH if days_left <= spec.end_of_life_warning_days else Status.OK)
        ev.append(fact("end_of_life", "End of life", eol.isoformat(), str(w.as_of), status,
                       note="passed" if days_left < 0 else f"in {days_left} days"))
    if service.lifecycle == "retired" and cost > 0:
        ev.append(fact("retired_but_paid", "Retired but still costs", cost, w.period,
                       Status.LEAK, unit=f" {ctx.currency}/month"))
    twins = [s for s in m.live_by_capability.get(service.capability or "", []) if s != sid]
    if twins and service.lifecycle in ("live", "retiring"):
        ev.append(fact("duplicate_capability", "Same capability as", ", ".join(twins), w.period,
                       Status.WATCH, note=f"capability {service.capability!r}"))
    live = [v.outcome for v in service.supports
            if (o := ctx.model.outcome(v.outcome)) is not None and o.status == "active"]
    ev.append(fact("live_outcomes", "Active outcomes supported", float(len(live)), w.period,
                   Status.OK if live or service.lifecycle == "pipeline" else Status.WATCH))
    unused = max(0.0, (service.licences or 0) - (users or 0)) if service.licences else 0.0
    licence_cost = service.licence_cost_monthly or 0.0
    share = spec.retirement_run_cost_share
    leak = LeakEstimate(unused * licence_cost + share * cost, 0.0,
                        f"{unused:.0f} unused licences × {money(licence_cost)} {ctx.currency} "
                        f"+ {share:.0%} × run cost {money(cost)} {ctx.currency}")
    return conclude(sid, CAUSE, ev, leak, ACTION)


INDICATOR = Indicator(
    cause=CAUSE,
    title="Retirement",
    question="Does the service live on after its value is gone?",
    action=ACTION,
    spec=RetirementSpec,
    measure=measure,
    assess=assess,
)
