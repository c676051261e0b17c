"""retirement — a service lives on after its value is gone.

Unused licences, falling use, a passed end-of-life, a twin with the same capability and no live
outcome each say "retire or consolidate"; together they make the case. Cost per user differs a
hundredfold by nature (an ERP with 50 users, e-mail with 5,000), so it is compared only with
peers of the same lifecycle and size band, by a robust z-score (median and MAD of log cost per
user), and can raise a ``watch`` at most (issue 13).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
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
    UseChange,
    monthly_costs,
    recent_users,
    rhythm,
    settled_evidence,
    settled_shift,
    week_of,
)
from dipstick.indicators.confidence import tested
from dipstick.indicators.weekly import use_changes
from dipstick.model import Service
from dipstick.shifts import detect_all
from dipstick.stats import proportion

CAUSE = "retirement"
ACTION = "Retire or consolidate: plan the service's retirement or merge it with its twin."


class RetirementSpec(Spec):
    licence_utilisation: Threshold = Field(Threshold(0.6, 0.4), description="active ÷ licences")
    usage_trend: Threshold = Field(Threshold(-0.2, -0.4), description="current ÷ baseline − 1")
    cost_per_user_peer_z: float = Field(3.5, gt=0, description="robust z vs peers: watch")
    cost_per_user_min_peers: int = Field(5, ge=3, description="fewest peers to compare with")
    end_of_life_warning_days: int = Field(180, ge=0, description="watch before end-of-life")
    retirement_run_cost_share: float = Field(0.25, ge=0, le=1,
                                             description="share of run cost retiring saves")


@dataclass(frozen=True)
class RetirementMeasures:
    recent: dict[str, float]
    costs: dict[str, float]
    peers: dict[str, tuple[float, float, int]]    # service → (median, MAD, n) of its peers
    live_by_capability: dict[str, list[str]]
    use: dict[str, UseChange | None]              # service → weekly use, window vs baseline


def measure(ctx: CheckContext, spec: RetirementSpec) -> RetirementMeasures:
    recent = recent_users(ctx)
    costs = monthly_costs(ctx)
    lifecycle = {s.id: s.lifecycle for s in ctx.model.services}
    bands: dict[tuple[str, int], dict[str, float]] = {}
    for sid, u in recent.items():
        if u and u > 0 and costs.get(sid) and sid in lifecycle:
            band = (lifecycle[sid], _size_band(u))
            bands.setdefault(band, {})[sid] = math.log(costs[sid] / u)
    peers: dict[str, tuple[float, float, int]] = {}
    for members in bands.values():
        if len(members) - 1 < spec.cost_per_user_min_peers:
            continue
        values = np.fromiter(members.values(), dtype=np.float64, count=len(members))
        for i, sid in enumerate(members):
            # NumPy over the band, not Python over it per member (2.4 M generator steps on
            # the large demo); the same medians as ``statistics.median`` of the same values
            others = np.delete(values, i)
            med = _median(others)
            peers[sid] = (med, _median(np.abs(others - med)), len(others))
    live: dict[str, list[str]] = {}
    for s in ctx.model.services:
        if s.lifecycle == "live" and s.capability:
            live.setdefault(s.capability, []).append(s.id)
    # weekly use, each week ÷ the audience's rhythm, now against the baseline's weeks: every
    # service's at once (one by one in assess: ~0.15 s of the large demo's check)
    w = ctx.window
    weeks = (range(week_of(w.baseline_start.date()), week_of(w.start.date())),
             range(week_of(w.start.date()), week_of(w.end.date())))
    ids = list(dict.fromkeys(s.id for s in ctx.model.services))
    use = dict(zip(ids, use_changes(detect_all(ctx), rhythm(ctx),
                                    [(sid, *weeks) for sid in ids]), strict=True))
    return RetirementMeasures(recent, costs, peers, live, use)


def _median(xs: npt.NDArray[np.float64]) -> float:
    """``statistics.median`` of a NumPy array: the middle value, or the mean of the two middle
    ones computed as it does ((a + b) / 2)."""
    n = len(xs)
    half = n // 2
    if n % 2:
        return float(np.partition(xs, half)[half])
    part = np.partition(xs, (half - 1, half))
    return float((part[half - 1] + part[half]) / 2)


def _size_band(users: float) -> int:
    """Tens, hundreds, thousands of users: a size band's members cost alike per user."""
    return math.floor(math.log10(max(users, 1.0)))


def assess(service: Service, m: RetirementMeasures, ctx: CheckContext,
           spec: RetirementSpec) -> Finding:
    w, sid = ctx.window, service.id
    ev: list[Evidence] = []
    users = m.recent.get(sid)
    cost = m.costs.get(sid, 0.0)
    utilisation = None
    unused_range: tuple[float, float] | None = None
    if service.licences:
        utilisation = None if users is None else users / service.licences
        test = None if users is None else proportion(
            min(users, service.licences), service.licences, spec.licence_utilisation.watch,
            higher_is_worse=False)
        ev.append(tested("licence_utilisation", "Licence utilisation", utilisation,
                         spec.licence_utilisation, "last 28 days", test,
                         note="" if users is not None else "no usage data",
                         sample="licences in use"))
        if ev[-1].low is not None and ev[-1].high is not None:
            unused_range = (service.licences * (1 - ev[-1].high),
                            service.licences * (1 - ev[-1].low))
    used = m.use[sid]
    if used is not None:
        ma, mb, test, _, _ = used
        ev.append(tested("usage_trend", "Active users vs baseline", ma / mb - 1,
                         spec.usage_trend, w.period, test, baseline=round(mb, 2),
                         sample="of mean daily users, each week ÷ the audience's rhythm",
                         relative=True))
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
    peer = m.peers.get(sid)
    if users and cost and peer:
        med, mad, k = peer
        z = (math.log(cost / users) - med) / (1.4826 * mad) if mad > 0 else 0.0
        ev.append(fact("cost_per_user_vs_peers", "Cost per active user vs peers (robust z)",
                       round(z, 2), w.period,
                       Status.WATCH if z >= spec.cost_per_user_peer_z else Status.OK,
                       threshold=f"watch ≥ {spec.cost_per_user_peer_z:g} (never a leak alone)",
                       note=f"{money(cost / users)} {ctx.currency} per user a month; peer "
                            f"median {money(math.exp(med))} over {k} {service.lifecycle} "
                            f"services of {10 ** _size_band(users):,}+ users"))
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
    if ctx.model.outcomes:
        ev.append(fact("live_outcomes", "Active outcomes supported", float(len(live)),
                       w.period,
                       Status.OK if live or service.lifecycle == "pipeline" else Status.WATCH))
    else:   # a starter model: no outcomes to support yet, which says nothing of the service
        ev.append(fact("live_outcomes", "Active outcomes supported", None, w.period,
                       Status.UNKNOWN, note="dipstick.yaml names no outcomes yet"))
    unused = max(0.0, (service.licences or 0) - (users or 0)) if service.licences else 0.0
    licence_cost = service.licence_cost_monthly or 0.0
    share = spec.retirement_run_cost_share
    lo_unused, hi_unused = unused_range or (unused, unused)
    leak = LeakEstimate(unused * licence_cost + share * cost, 0.0,
                        f"{unused:.0f} unused licences × {money(licence_cost)} {ctx.currency} "
                        f"+ {share:.0%} × run cost {money(cost)} {ctx.currency}"
                        + (" (range: unused licences over the utilisation's 95 % interval)"
                           if unused_range else ""),
                        max(0.0, lo_unused) * licence_cost + share * cost,
                        max(0.0, hi_unused) * licence_cost + share * cost)
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
