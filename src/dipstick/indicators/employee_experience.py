"""employee_experience — internal users suffer.

Read from the tickets internal people raise (incidents and requests; how-to questions belong to
``training``). Lost time is the leak itself: hours people could not work, priced at the hourly
rate. Lost time and slowness are judged against the service's own baseline, because their
normal level differs a lot between services; a service whose consuming groups are all external
is ``n/a`` (issue 13).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from pydantic import Field

from dipstick.findings import (
    CheckContext,
    Finding,
    LeakEstimate,
    Spec,
    Threshold,
    conclude,
    not_applicable,
    sig,
    unknown,
)
from dipstick.indicators.base import Indicator, money
from dipstick.indicators.common import (
    covered_days,
    expect_settled,
    per_month,
    ratio,
    settled_evidence,
    settled_shift,
)
from dipstick.indicators.confidence import NO_CHANGE, Sign, agreeing, halfway, tested
from dipstick.indicators.tickets import (
    BASELINE,
    CURRENT,
    INTERNAL,
    internal_resolution,
    ticket_facts,
)
from dipstick.model import Service
from dipstick.shifts import Shift
from dipstick.stats import (
    Test,
    mean_vs_line,
    means,
    poisson_range,
    proportion,
    sum_ratio,
    two_proportions,
)

CAUSE = "employee_experience"
# the series ``assess`` asks ``settled_shift`` about: (metric, part)
SETTLED = (("satisfaction", ""), ("reopen_share", ""), ("lost_hours_per_user", ""),
           ("resolution_hours", "incident"), ("resolution_hours", "request"))
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
    """Internal incidents and requests, current and baseline: the check's shared ticket facts
    (:mod:`dipstick.indicators.tickets`, two scans for what were four)."""
    if not ctx.signals.has("tickets"):
        return None
    m = EmployeeMeasures(ticket_facts(ctx, INTERNAL, CURRENT),
                         ticket_facts(ctx, INTERNAL, BASELINE),
                         internal_resolution(ctx, CURRENT),
                         internal_resolution(ctx, BASELINE))
    # ``assess`` asks for the settled shifts of the internal services with tickets now only
    expect_settled(ctx, (s.id for s in ctx.model.services
                         if s.id in m.current and _internal(s, ctx)), SETTLED)
    return m


def _resolution_growth(m: EmployeeMeasures, service: str, null: float
                       ) -> tuple[float | None, tuple[float, float], Test | None]:
    """Per ticket type, median resolution now ÷ in the baseline, weighted by today's counts;
    the numbers of tickets it rests on (now, baseline); and its test: per type, Welch on
    log(hours + 1) against the ratio ``null`` (1: no change), the smallest p times the number
    of types (Bonferroni), the interval of the type with the most tickets."""
    total = weighted = base_total = 0.0
    tests: list[tuple[float, Test]] = []
    for t in ("incident", "request"):
        cur, base = m.resolution.get((service, t)), m.baseline_resolution.get((service, t))
        if cur and base and cur["n"] >= 2 and base["n"] >= 2 and base["median"]:
            weighted += cur["n"] * cur["median"] / base["median"]
            total += cur["n"]
            base_total += base["n"]
            test = means(cur["log_mean"], cur["log_sd"] or 0.0, cur["n"],
                         base["log_mean"] + math.log(null), base["log_sd"] or 0.0, base["n"])
            if test is not None:
                tests.append((cur["n"], test))
    combined = None
    if tests:
        p = min(1.0, len(tests) * min(t.p for _, t in tests))
        top = max(tests, key=lambda x: x[0])[1]
        combined = Test(math.exp(top.estimate) * null, math.exp(top.low) * null,
                        math.exp(top.high) * null, p, sum(t.n for _, t in tests), top.sample)
    return (weighted / total if total else None), (total, base_total), combined


def _internal(service: Service, ctx: CheckContext) -> bool:
    """Whether internal people use the service: an internal consuming group, or no consuming
    group named at all (then its tickets tell)."""
    kinds = [g.kind for c in service.consumers if (g := ctx.model.group(c)) is not None]
    return not service.consumers or "internal" in kinds


RATING_SD_FLOOR = 1.0   # ratings are whole points: a sample of equal ratings is not certainty


def assess(service: Service, m: EmployeeMeasures | None, ctx: CheckContext,
           spec: EmployeeExperienceSpec) -> Finding:
    if not _internal(service, ctx):
        return not_applicable(service.id, CAUSE, "no internal consuming group: the service has "
                              "no internal users", ACTION)
    if m is None:
        return unknown(service.id, CAUSE, "no tickets table", ACTION)
    cur, base = m.current.get(service.id), m.baseline.get(service.id, {})
    if not cur:
        return unknown(service.id, CAUSE, "no internal tickets in the current window", ACTION)
    w, sid = ctx.window, service.id
    days = covered_days(ctx, sid, w.start, w.end)
    base_days = covered_days(ctx, sid, w.baseline_start, w.start)
    lost = per_month(cur["lost_hours"], days)
    base_lost = per_month(base.get("lost_hours"), base_days)
    growth, resolved, res_test = _resolution_growth(m, sid, NO_CHANGE)
    lost_test = sum_ratio(cur["lost_n"], cur["lost_mean"] or 0.0, cur["lost_sd"] or 0.0, days,
                          base.get("lost_n") or 0, base.get("lost_mean") or 0.0,
                          base.get("lost_sd") or 0.0, base_days,
                          null=NO_CHANGE)
    ev = [
        tested("satisfaction", "Ticket satisfaction (internal, 0–10)", cur["satisfaction"],
               spec.employee_satisfaction, w.period,
               mean_vs_line(cur["satisfaction"] or 0.0,
                            max(cur["satisfaction_sd"] or 0.0, RATING_SD_FLOOR), cur["rated"],
                            spec.employee_satisfaction.watch, higher_is_worse=False),
               baseline=base.get("satisfaction"), sample="rated tickets"),
        tested("lost_time_growth", "Lost hours a month vs baseline", ratio(lost, base_lost),
               spec.lost_time_growth, w.period, lost_test, baseline=base_lost, unit="×",
               note=f"{lost or 0:.0f} h a month" if cur["lost_n"] else
               "the tickets record no lost time (lost_minutes)", sample="tickets with lost time",
               required=bool(lost), relative=True),
        tested("resolution_growth", "Median resolution time vs baseline (per type)", growth,
               spec.resolution_growth, w.period, res_test, unit="×",
               note=(f"median {cur['resolution_h'] or 0:.1f} h now; {resolved[0]:.0f} tickets "
                     f"against {resolved[1]:.0f} in the baseline") if resolved[0] else
               (f"median {cur['resolution_h']:.1f} h now; no baseline to compare with"
                if cur["resolution_h"] is not None else "no resolved tickets"),
               relative=True),
        tested("reopen_share", "Share of tickets reopened", cur["reopen_share"],
               spec.reopen_share, w.period,
               proportion(cur["reopened"] or 0, cur["n"], spec.reopen_share.watch,
                          higher_is_worse=True),
               baseline=base.get("reopen_share"), sample="tickets reopened"),
        tested("reassignments", "Reassignments per ticket", cur["reassignments"],
               spec.reassignments, w.period,
               mean_vs_line(cur["reassignments"] or 0.0, cur["reassignments_sd"] or 0.0,
                            cur["assigned"], spec.reassignments.watch, higher_is_worse=True),
               baseline=base.get("reassignments"), sample="tickets"),
    ]

    signs = agreeing(_signs(cur, base, (ratio(lost, base_lost), lost_test),
                            (growth, res_test), spec), w.period)
    if signs is not None:
        ev.append(signs)

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
    lo, hi = poisson_range(cur["lost_n"] or 0)
    scale = hours * ctx.rate / (cur["lost_n"] or 1)
    if not cur["lost_n"]:
        leak = LeakEstimate.none("not priced: the tickets record no lost time (lost_minutes); "
                                 "with it, lost hours a month × the hourly rate")
        return conclude(service.id, CAUSE, ev, leak, ACTION)
    leak = LeakEstimate(hours * ctx.rate, hours,
                        f"{sig(hours)} h lost a month by internal users × "
                        f"{money(ctx.rate)} {ctx.currency}/h (range: the count of tickets with "
                        "lost time over its exact 95 % Poisson interval)",
                        scale * lo if cur["lost_n"] else None,
                        scale * hi if cur["lost_n"] else None)
    return conclude(service.id, CAUSE, ev, leak, ACTION)


def _signs(cur: dict[str, Any], base: dict[str, Any], lost: tuple[float | None, Test | None],
           resolution: tuple[float | None, Test | None],
           spec: EmployeeExperienceSpec) -> list[Sign]:
    """The four measures of internal users' experience, each (value, test) against the
    service's own baseline, material :func:`halfway` to their watch line (lost hours and
    resolution ×1.25, satisfaction −0.5 pts; reopens ×1.25 their baseline share)."""
    def sign(name: str, words: str, material: bool, test: Test | None) -> Sign:
        return Sign(name, words, material, test.p if test else None, test.n if test else 0)

    reopen = two_proportions(cur["reopened"] or 0, cur["n"], base.get("reopened") or 0,
                             base.get("n") or 0) if base.get("n") else None
    share, base_share = cur["reopen_share"] or 0.0, base.get("reopen_share") or 0.0
    sat = spec.employee_satisfaction
    drop = means(cur["satisfaction"] or 0.0, max(cur["satisfaction_sd"] or 0.0, RATING_SD_FLOOR),
                 cur["rated"], base.get("satisfaction") or 0.0,
                 max(base.get("satisfaction_sd") or 0.0, RATING_SD_FLOOR), base.get("rated") or 0,
                 higher_is_worse=False) if base.get("rated") and cur["rated"] else None
    fell = -drop.estimate if drop else None
    return [
        sign("lost_time_growth", f"lost hours ×{lost[0] or 0:.2f}",
             halfway(lost[0], spec.lost_time_growth, 1.0), lost[1]),
        sign("resolution_growth", f"resolution ×{resolution[0] or 0:.2f}",
             halfway(resolution[0], spec.resolution_growth, 1.0), resolution[1]),
        sign("reopen_share", f"reopened {share:.0%} (was {base_share:.0%})",
             share >= 1.25 * base_share, reopen),
        sign("satisfaction", f"satisfaction −{fell or 0:.1f} pts",
             fell is not None and fell >= abs(sat.watch - sat.leak) / 2, drop),
    ]


INDICATOR = Indicator(
    cause=CAUSE,
    title="Employee experience",
    question="Do internal users lose time or patience with the service?",
    action=ACTION,
    spec=EmployeeExperienceSpec,
    measure=measure,
    assess=assess,
)
