"""employee_experience — internal users suffer.

Read from the tickets internal people raise (incidents and requests; how-to questions belong to
``training``). Lost time is the leak itself: hours people could not work, priced at the hourly
rate. Slowness is judged against the service's own baseline, because a normal resolution time
differs a lot between services.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import narwhals as nw
from pydantic import Field

from dipstick.findings import (
    CheckContext,
    Finding,
    LeakEstimate,
    Spec,
    Threshold,
    conclude,
    evidence,
    unknown,
)
from dipstick.indicators.base import Indicator, money
from dipstick.indicators.common import (
    covered_days,
    groups_of_kind,
    per_month,
    ratio,
    resolution_by_type,
    settled_evidence,
    settled_shift,
    ticket_stats,
)
from dipstick.model import Service
from dipstick.shifts import Shift

CAUSE = "employee_experience"
ACTION = "Fix the experience: remove the top causes of lost time and slow or reopened tickets."


class EmployeeExperienceSpec(Spec):
    employee_satisfaction: Threshold = Field(Threshold(7.0, 6.0), description="ticket score 0–10")
    lost_time_growth: Threshold = Field(Threshold(1.5, 2.0), description="lost h/month ÷ baseline")
    resolution_growth: Threshold = Field(Threshold(1.5, 2.0), description="median h ÷ baseline")
    reopen_share: Threshold = Field(Threshold(0.08, 0.15), description="tickets reopened ≥ once")
    reassignments: Threshold = Field(Threshold(1.5, 2.5), description="mean per ticket")


@dataclass(frozen=True)
class EmployeeMeasures:
    current: dict[str, dict[str, Any]]
    baseline: dict[str, dict[str, Any]]
    resolution: dict[tuple[str, str], dict[str, Any]]
    baseline_resolution: dict[tuple[str, str], dict[str, Any]]


def measure(ctx: CheckContext, spec: EmployeeExperienceSpec) -> EmployeeMeasures | None:
    if not ctx.signals.has("tickets"):
        return None
    internal = groups_of_kind(ctx, "internal")
    lf = ctx.signals.frame("tickets").filter(
        nw.col("type").is_in(["incident", "request"])
        & (nw.col("requester_group").is_null() | nw.col("requester_group").is_in(internal)))
    w = ctx.window
    return EmployeeMeasures(ticket_stats(ctx, lf, w.start, w.end),
                            ticket_stats(ctx, lf, w.baseline_start, w.start),
                            resolution_by_type(lf, w.start, w.end),
                            resolution_by_type(lf, w.baseline_start, w.start))


def _resolution_growth(m: EmployeeMeasures, service: str, minimum: int) -> tuple[float | None,
                                                                               float]:
    """Per ticket type, median resolution now ÷ in the baseline, weighted by today's counts;
    and the number of tickets it rests on."""
    total = weighted = 0.0
    for t in ("incident", "request"):
        cur, base = m.resolution.get((service, t)), m.baseline_resolution.get((service, t))
        if cur and base and cur["n"] >= minimum and base["n"] >= minimum and base["median"]:
            weighted += cur["n"] * cur["median"] / base["median"]
            total += cur["n"]
    return (weighted / total if total else None), total


def assess(service: Service, m: EmployeeMeasures | None, ctx: CheckContext,
           spec: EmployeeExperienceSpec) -> Finding:
    if m is None:
        return unknown(service.id, CAUSE, "no tickets table", ACTION)
    cur, base = m.current.get(service.id), m.baseline.get(service.id, {})
    if not cur:
        return unknown(service.id, CAUSE, "no internal tickets in the current window", ACTION)
    w, sid, least = ctx.window, service.id, ctx.common.min_sample
    lost = per_month(cur["lost_hours"], covered_days(ctx, sid, w.start, w.end))
    base_lost = per_month(base.get("lost_hours"),
                          covered_days(ctx, sid, w.baseline_start, w.start))
    growth, resolved = _resolution_growth(m, sid, least)
    ev = [
        evidence("satisfaction", "Ticket satisfaction (internal, 0–10)", cur["satisfaction"],
                 spec.employee_satisfaction, w.period, baseline=base.get("satisfaction"),
                 note=f"{cur['rated']} rated tickets", sample=(cur["rated"], least)),
        evidence("lost_time_growth", "Lost hours a month vs baseline", ratio(lost, base_lost),
                 spec.lost_time_growth, w.period, baseline=base_lost, unit="×",
                 note=f"{lost or 0:.0f} h a month", sample=(min(cur["n"], base.get("n", 0)),
                                                            least)),
        evidence("resolution_growth", "Median resolution time vs baseline (per type)", growth,
                 spec.resolution_growth, w.period, unit="×",
                 note=f"median {cur['resolution_h'] or 0:.1f} h over {resolved:.0f} tickets"),
        evidence("reopen_share", "Share of tickets reopened", cur["reopen_share"],
                 spec.reopen_share, w.period, baseline=base.get("reopen_share"),
                 sample=(cur["n"], least)),
        evidence("reassignments", "Reassignments per ticket", cur["reassignments"],
                 spec.reassignments, w.period, baseline=base.get("reassignments"),
                 sample=(cur["n"], least)),
    ]
    def since_shift(metric: str, part: str = "") -> Shift | None:
        return settled_shift(ctx, "service", sid, metric, part)

    ev += settled_evidence("satisfaction", "Ticket satisfaction", since_shift("satisfaction"),
                           spec.employee_satisfaction)
    ev += settled_evidence("reopen_share", "Share of tickets reopened",
                           since_shift("reopen_share"), spec.reopen_share)
    ev += settled_evidence("lost_time_growth", "Lost hours per user",
                           since_shift("lost_hours_per_user"), spec.lost_time_growth,
                           as_ratio=True, unit="×")
    for t in ("incident", "request"):
        ev += settled_evidence(f"resolution_growth:{t}", f"Median {t} resolution time",
                               since_shift("resolution_hours", t), spec.resolution_growth,
                               as_ratio=True, unit="×")
    hours = lost or 0.0
    leak = LeakEstimate(hours * ctx.rate, hours,
                        f"{hours:.0f} h lost a month by internal users × "
                        f"{money(ctx.rate)} {ctx.currency}/h")
    return conclude(service.id, CAUSE, ev, leak, ACTION)


INDICATOR = Indicator(
    cause=CAUSE,
    title="Employee experience",
    question="Do internal users lose time or patience with the service?",
    action=ACTION,
    spec=EmployeeExperienceSpec,
    measure=measure,
    assess=assess,
)
