"""customer_experience — external customers suffer.

Read where customers meet the service: journey touchpoints backed by it (satisfaction and
drop-off, each against its own baseline) and the tickets customers raise. A touchpoint backed by
several services counts for each of them: the journey map cannot say which one is to blame. A
service backing no touchpoint and serving no customer group is ``n/a``, not ``unknown``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import Field

from dipstick.findings import (
    CheckContext,
    Evidence,
    Finding,
    LeakEstimate,
    Spec,
    Threshold,
    conclude,
    evidence,
    not_applicable,
    unknown,
)
from dipstick.indicators.base import Indicator, money
from dipstick.indicators.common import (
    groups_of_kind,
    settled_evidence,
    settled_shift,
)
from dipstick.indicators.confidence import NO_CHANGE, flipped, tested
from dipstick.indicators.tickets import CURRENT, CUSTOMER, ticket_facts
from dipstick.journeys import TouchpointMeasures, journeys_of
from dipstick.model import Service
from dipstick.stats import mean_vs_line, rate_ratio, shift_of_means

CAUSE = "customer_experience"
ACTION = "Fix the journey: walk the customer journey map and repair the failing touchpoints."


class CustomerExperienceSpec(Spec):
    touchpoint_satisfaction: Threshold = Field(Threshold(7.0, 6.0), description="0–10")
    touchpoint_satisfaction_drop: Threshold = Field(Threshold(0.7, 1.2),
                                                    description="baseline − current, points")
    drop_off_growth: Threshold = Field(Threshold(1.25, 1.5), description="rate ÷ baseline rate")
    customer_satisfaction: Threshold = Field(Threshold(7.0, 6.0),
                                             description="customer tickets, 0–10")
    value_per_drop_off: float = Field(0.0, ge=0, description="money a lost visit is worth")


@dataclass(frozen=True)
class CustomerMeasures:
    tickets: dict[str, dict[str, Any]]
    # service → the touchpoints it backs: (journey id, "Journey › Touchpoint", measures)
    backed: dict[str, list[tuple[str, str, TouchpointMeasures]]]


def measure(ctx: CheckContext, spec: CustomerExperienceSpec) -> CustomerMeasures:
    """Touchpoint measures come from :mod:`dipstick.journeys` (one place for the journey
    numbers, shared with the journey maps); customer tickets from the shared ticket facts."""
    backed: dict[str, list[tuple[str, str, TouchpointMeasures]]] = {}
    for j in journeys_of(ctx):
        for t in j.touchpoints:
            for s in t.services:
                backed.setdefault(s, []).append((j.id, f"{j.name} › {t.name}", t))
    return CustomerMeasures(ticket_facts(ctx, CUSTOMER, CURRENT), backed)


def assess(service: Service, m: CustomerMeasures, ctx: CheckContext,
           spec: CustomerExperienceSpec) -> Finding:
    sid, w = service.id, ctx.window
    touchpoints = m.backed.get(sid, [])
    if not touchpoints and sid not in m.tickets:
        customers = set(groups_of_kind(ctx, "customer"))
        if not customers & set(service.consumers):
            return not_applicable(sid, CAUSE, "backs no journey touchpoint and serves no "
                                  "customer group", ACTION)
        return unknown(sid, CAUSE, "serves customers but backs no journey touchpoint and has no "
                       "customer tickets", ACTION)
    ev: list[Evidence] = []
    excess_drop_offs = 0.0
    for journey, name, t in touchpoints:
        tp = t.id
        if t.current is None:
            ev.append(evidence(f"touchpoint:{journey}/{tp}", f"{name}: satisfaction", None,
                               spec.touchpoint_satisfaction, w.period,
                               note="no touchpoint data in the current window"))
            continue
        cur, base = t.current, t.baseline
        # the rows' mean satisfaction (each a day's or week's average): against the leak line
        # as the value score is (a touchpoint's level sits near 6 by nature for some), its drop
        # against the baseline rows' spread (stats.shift_of_means)
        level = None if t.satisfaction is None else mean_vs_line(
            t.satisfaction, cur.satisfaction_sd or 0.0, cur.rated,
            spec.touchpoint_satisfaction.leak, higher_is_worse=False)
        ev.append(tested(f"touchpoint_satisfaction:{journey}/{tp}", f"{name}: satisfaction",
                         t.satisfaction, spec.touchpoint_satisfaction, w.period, level,
                         baseline=t.baseline_satisfaction, sample="days or weeks",
                         required=False))
        if t.satisfaction_drop is not None and base is not None and cur.satisfaction is not None:
            drop = shift_of_means(cur.satisfaction, cur.satisfaction_sd or 0.0, cur.rated,
                                  base.satisfaction or 0.0, base.satisfaction_sd or 0.0,
                                  base.rated, null=0.0, higher_is_worse=False)
            ev.append(tested(f"touchpoint_drop:{journey}/{tp}", f"{name}: satisfaction drop",
                             t.satisfaction_drop, spec.touchpoint_satisfaction_drop, w.period,
                             flipped(drop), baseline=t.baseline_satisfaction, unit=" pts",
                             sample="days or weeks", required=False, relative=True))
        rate, base_rate = t.drop_off_rate, t.baseline_drop_off_rate
        if rate is not None:
            b = t.baseline
            test = rate_ratio(t.drop_offs or 0.0, t.visitors or 0.0, b.drop_offs or 0.0,
                              b.visitors or 0.0, NO_CHANGE) if b else None
            ev.append(tested(f"drop_off_growth:{journey}/{tp}", f"{name}: drop-off rate vs "
                             "baseline", t.drop_off_growth, spec.drop_off_growth, w.period, test,
                             baseline=base_rate, unit="×", note=f"{rate:.1%} drop off",
                             sample="drop-offs", relative=True))
            if base_rate is not None and rate > base_rate and t.visitors is not None:
                excess_drop_offs += (rate - base_rate) * t.visitors / w.months
        subject = f"{journey}/{tp}"
        ev += settled_evidence(f"touchpoint_satisfaction:{subject}", f"{name}: satisfaction",
                               settled_shift(ctx, "touchpoint", subject,
                                             "touchpoint_satisfaction"),
                               spec.touchpoint_satisfaction)
        ev += settled_evidence(f"drop_off_growth:{subject}", f"{name}: drop-off rate",
                               settled_shift(ctx, "touchpoint", subject, "drop_off_rate"),
                               spec.drop_off_growth, as_ratio=True, unit="×")
    tk = m.tickets.get(sid)
    if tk:
        ev.append(tested("customer_satisfaction", "Customer ticket satisfaction (0–10)",
                         tk["satisfaction"], spec.customer_satisfaction, w.period,
                         mean_vs_line(tk["satisfaction"] or 0.0,
                                      max(tk["satisfaction_sd"] or 0.0, 1.0), tk["rated"],
                                      spec.customer_satisfaction.watch, higher_is_worse=False),
                         sample="rated tickets"))
    value = spec.value_per_drop_off
    note = "" if value else " (set value_per_drop_off to price them)"
    leak = LeakEstimate(excess_drop_offs * value, 0.0,
                        f"{excess_drop_offs:,.0f} extra drop-offs a month above the baseline "
                        f"rate × {money(value)} {ctx.currency} per lost visit{note}")
    return conclude(sid, CAUSE, ev, leak, ACTION)


INDICATOR = Indicator(
    cause=CAUSE,
    title="Customer experience",
    question="Do external customers drop off or complain where the service backs them?",
    action=ACTION,
    spec=CustomerExperienceSpec,
    measure=measure,
    assess=assess,
)
