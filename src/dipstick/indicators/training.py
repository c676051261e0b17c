"""training — people cannot use what was delivered.

How-to questions per active user are the clearest trace of people who were not shown how to use
a service. Their level differs tenfold by nature between a complex and a simple application, so
it is shown for information only; the rate is judged against the service's own baseline, with
the conditional binomial test of the two Poisson rates (issue 13).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import narwhals as nw
from pydantic import Field

from dipstick.engine import collect
from dipstick.findings import (
    CheckContext,
    Evidence,
    Finding,
    LeakEstimate,
    Spec,
    Threshold,
    conclude,
    evidence,
    sig,
    unknown,
)
from dipstick.indicators.base import Indicator, money
from dipstick.indicators.common import (
    active_users,
    covered_days,
    ratio,
    recent_users,
    settled_evidence,
    settled_shift,
)
from dipstick.indicators.confidence import NO_CHANGE, at_most_watch, is_sign, scaled, tested
from dipstick.indicators.tickets import BASELINE, CURRENT, split, windowed
from dipstick.model import Service
from dipstick.shifts.groups import early_codes
from dipstick.stats import poisson_range, proportion, rate_ratio, two_proportions

CAUSE = "training"
ACTION = "Train: run targeted training and publish how-to guides for the top questions."


class TrainingSpec(Spec):
    questions_growth: Threshold = Field(Threshold(1.5, 2.0), description="rate ÷ baseline rate")
    training_completion: Threshold = Field(Threshold(0.8, 0.6), description="completed/required")
    completion_drop: Threshold = Field(Threshold(10.0, 20.0),
                                       description="completion now below the baseline's, "
                                                   "percentage points")
    new_service_adoption: Threshold = Field(Threshold(0.5, 0.3),
                                            description="active users ÷ licences, first year")
    question_handling_minutes: float = Field(20.0, ge=0,
                                             description="time a how-to ticket costs its asker")
    untrained_hours_per_month: float = Field(1.0, ge=0,
                                             description="time an untrained user loses a month")


@dataclass(frozen=True)
class TrainingMeasures:
    questions: dict[str, dict[str, Any]]
    baseline_questions: dict[str, dict[str, Any]]
    users: dict[str, float]
    baseline_users: dict[str, float]
    recent_users: dict[str, float]
    completion: dict[str, dict[str, Any]]
    baseline_completion: dict[str, dict[str, Any]] = field(default_factory=dict)


def _questions(ctx: CheckContext) -> list[dict[str, Any]]:
    """The how-to tickets per service and window (count, mean lost minutes), compared and
    grouped on the tickets' stored ENUM codes (the type filtered first, the services as codes
    from the start: :func:`~dipstick.shifts.groups.early_codes`) and named once per group:
    the view's text a row cost twice as much (0.050 → 0.023 s of CPU on the large demo)."""
    stored = ctx.signals.frame("tickets", coded=True).filter(nw.col("type") == "question")
    frame, codes = early_codes(stored, ["service"])
    rows = collect(windowed(frame, "opened_at", ctx).group_by("service", "_window")
                   .agg(n=nw.len(), lost=nw.col("lost_minutes").cast(nw.Float64).mean()))
    if "service" in codes:
        names = codes["service"]
        for r in rows:
            code = r["service"]
            r["service"] = None if code is None or code < 0 else names[code]
    return rows


def _completion(ctx: CheckContext) -> dict[str, dict[str, dict[str, Any]]]:
    """The latest completion per (service, group) in each window, summed per service: one
    scan for both windows (:func:`dipstick.indicators.tickets.windowed`)."""
    latest = (windowed(ctx.signals.frame("training"), "date", ctx)
              .with_columns(last=nw.col("date").max().over("service", "group", "_window"))
              .filter(nw.col("date") == nw.col("last"))
              .group_by("service", "_window")
              .agg(completed=nw.col("completed").cast(nw.Float64).sum(),
                   required=nw.col("required").cast(nw.Float64).sum()))
    return split(collect(latest), "service")


def measure(ctx: CheckContext, spec: TrainingSpec) -> TrainingMeasures:
    w = ctx.window
    questions: dict[str, dict[str, dict[str, Any]]] = {CURRENT: {}, BASELINE: {}}
    if ctx.signals.has("tickets"):
        questions = split(_questions(ctx), "service")
    completion: dict[str, dict[str, dict[str, Any]]] = {CURRENT: {}, BASELINE: {}}
    if ctx.signals.has("training"):
        completion = _completion(ctx)
    return TrainingMeasures(questions[CURRENT], questions[BASELINE],
                            active_users(ctx, w.start, w.end),
                            active_users(ctx, w.baseline_start, w.start), recent_users(ctx),
                            completion[CURRENT], completion[BASELINE])


def assess(service: Service, m: TrainingMeasures, ctx: CheckContext,
           spec: TrainingSpec) -> Finding:
    w, sid = ctx.window, service.id
    if not ctx.signals.has("tickets") and not m.completion and not m.users:
        return unknown(sid, CAUSE, "no tickets, training or usage data", ACTION)
    ev: list[Evidence] = []
    n = m.questions.get(sid, {}).get("n", 0) if ctx.signals.has("tickets") else None
    users = m.users.get(sid)
    rate = base_rate = None
    months = (covered_days(ctx, sid, w.start, w.end) or w.days) / (365.25 / 12)
    if n is not None and users:
        rate = 100.0 * n / users / months
        base_users = m.baseline_users.get(sid)
        base_n = m.baseline_questions.get(sid, {}).get("n", 0)
        base_months = covered_days(ctx, sid, w.baseline_start, w.start) / (365.25 / 12)
        if base_users and base_months >= 1:
            base_rate = 100.0 * base_n / base_users / base_months
    ev.append(evidence("questions_per_100_users", "How-to tickets per 100 active users a month",
                       rate, None, w.period, baseline=base_rate,
                       note="for information: the level differs by nature between services"
                       if users else "no usage data to relate questions to"))
    if rate is not None and base_rate and users:
        base_n = m.baseline_questions.get(sid, {}).get("n", 0)
        base_users = m.baseline_users.get(sid) or 0.0
        base_months = covered_days(ctx, sid, w.baseline_start, w.start) / (365.25 / 12)
        test = rate_ratio(n or 0, users * months, base_n, base_users * base_months,
                          null=NO_CHANGE)
        ev.append(tested("questions_growth", "How-to rate vs baseline", ratio(rate, base_rate),
                         spec.questions_growth, w.period, test, baseline=base_rate, unit="×",
                         sample="how-to tickets", relative=True))
    # the window mean lags a step: judge the level the weekly how-to rate settled at, as a
    # ratio to the level before (the service against itself, as the growth above)
    ev += settled_evidence("questions_growth", "How-to rate",
                           settled_shift(ctx, "service", sid, "questions_per_user"),
                           spec.questions_growth, as_ratio=True, unit="×")
    c = m.completion.get(sid)
    if c and c["required"]:
        ev.append(tested("training_completion", "Training completion (latest per group)",
                         c["completed"] / c["required"], spec.training_completion, w.period,
                         proportion(c["completed"], c["required"],
                                    spec.training_completion.watch, higher_is_worse=False),
                         sample="people trained"))
        b = m.baseline_completion.get(sid)
        if b and b["required"]:
            # completion differs by nature (mandatory vs optional courses): its fall against
            # the service's own baseline is the change judged
            test = two_proportions(b["completed"], b["required"], c["completed"],
                                   c["required"])
            ev.append(tested("completion_drop", "Training completion drop vs baseline",
                             100 * (b["completed"] / b["required"]
                                    - c["completed"] / c["required"]),
                             spec.completion_drop, w.period,
                             scaled(test, 100.0) if test else None, unit=" pts",
                             baseline=round(100 * b["completed"] / b["required"], 2),
                             sample="people trained", relative=True))
    if service.launched and (w.as_of - service.launched) <= timedelta(days=365):
        recent = m.recent_users.get(sid)
        if service.licences and recent is not None:
            ev.append(tested("new_service_adoption", "Adoption in the first year",
                             recent / service.licences, spec.new_service_adoption,
                             "last 28 days",
                             proportion(min(recent, service.licences), service.licences,
                                        spec.new_service_adoption.watch, higher_is_worse=False),
                             note=f"launched {service.launched}", sample="licences in use"))
    ev = _lone_rise(ev, spec)
    leak = LeakEstimate.none("no how-to tickets and no untrained people")
    if c and c["required"] > c["completed"]:
        untrained = c["required"] - c["completed"]
        hours = untrained * spec.untrained_hours_per_month
        leak = LeakEstimate(hours * ctx.rate, hours,
                            f"{sig(untrained)} untrained people × "
                            f"{spec.untrained_hours_per_month:g} h lost a month × "
                            f"{money(ctx.rate)} {ctx.currency}/h")
    lost = m.questions.get(sid, {}).get("lost") or 0.0
    hours = (n or 0) / months * (lost + spec.question_handling_minutes) / 60.0
    if hours > leak.hours:  # the larger of the two views, never both: they overlap
        lo, hi = poisson_range(n or 0)
        per = hours / (n or 1) * ctx.rate
        leak = LeakEstimate(hours * ctx.rate, hours,
                            f"{sig((n or 0) / months)} how-to tickets a month × ({sig(lost)} min "
                            f"lost + {spec.question_handling_minutes:g} min asking) = "
                            f"{sig(hours)} h × {money(ctx.rate)} {ctx.currency}/h (range: the "
                            "ticket count's exact 95 % Poisson interval)", per * lo, per * hi)
    return conclude(sid, CAUSE, ev, leak, ACTION)


def _lone_rise(ev: list[Evidence], spec: TrainingSpec) -> list[Evidence]:
    """A how-to rise with no other sign of a training gap (completion low or falling) leaks
    only if its whole 95 % interval lies past the watch line; else it and the level since its
    shift are held at ``watch``. How-to tickets are few — 24 in a quarter against 44 in a
    year — and among a portfolio's hundreds of rates some quarter runs ×2 by chance: on
    orgsim's tuning seeds 1–30 four of six false training leaks were such lone rises on a
    small service (the same rule as a change's lone sign)."""
    growth = next((e for e in ev if e.metric == "questions_growth"), None)
    if growth is None or growth.low is None or growth.low >= spec.questions_growth.watch:
        return ev
    if any(e.metric in ("training_completion", "completion_drop") and is_sign(e) for e in ev):
        return ev
    why = (f"a how-to rise alone, not surely past its watch line (interval from "
           f"{growth.low:.2f}×): a training leak needs the whole interval past it or a second "
           "sign (training completion)")
    return [at_most_watch(e, why) if e.metric.startswith("questions_growth") else e for e in ev]


INDICATOR = Indicator(
    cause=CAUSE,
    title="Training",
    question="Can people use what was delivered?",
    action=ACTION,
    spec=TrainingSpec,
    measure=measure,
    assess=assess,
)
