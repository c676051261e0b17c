"""perception — stakeholders no longer see value.

Value is a perception, so it is measured per stakeholder group on that group's own weighted
value dimensions. Not asking is itself a finding: a consuming group not asked for longer than
``checkin_max_age_days`` can never be ``ok`` (unknown is not green).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
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
    Status,
    Threshold,
    conclude,
    evidence,
    fact,
    unknown,
)
from dipstick.indicators.base import Indicator, money
from dipstick.indicators.common import monthly_costs
from dipstick.indicators.confidence import at_most_watch, tested
from dipstick.indicators.moments import mean_sd, sums
from dipstick.indicators.perception_sides import Pmd, Side, pmds, sides
from dipstick.indicators.tickets import BASELINE, CURRENT, windowed
from dipstick.model import Service, StakeholderGroup
from dipstick.stats import Z95, Test, normal_tail

CAUSE = "perception"
ACTION = "Talk with the stakeholders: run a pulse check and a follow-up conversation."


class PerceptionSpec(Spec):
    value_score: Threshold = Field(Threshold(7.0, 6.0), description="weighted value score 0–10")
    value_drop: Threshold = Field(Threshold(0.75, 1.5), description="drop vs baseline, points")
    promoters_minus_detractors_drop: Threshold = Field(
        Threshold(15.0, 25.0), description="drop of % promoters − % detractors vs baseline")
    value_target: float = Field(7.5, gt=0, le=10, description="score at which no value leaks")


@dataclass(frozen=True)
class SurveyMeasures:
    current: dict[tuple[str, str], dict[str, dict[str, Any]]]   # (service, group) → dim → stats
    baseline: dict[tuple[str, str], dict[str, dict[str, Any]]]
    last: dict[tuple[str, str], date]
    # (service, group) → (respondents, sd of their own mean answer), per window: the spread a
    # score has when one person's answers to several dimensions move together
    people: dict[tuple[str, str], tuple[int, float]] = field(default_factory=dict)
    base_people: dict[tuple[str, str], tuple[int, float]] = field(default_factory=dict)
    # each (service, group)'s side of the score test and its promoters − detractors, per
    # window, and the variance of both windows' answers pooled: worked out for all groups at
    # once (dipstick.indicators.perception_sides) rather than group by group in assess
    sides: dict[tuple[str, str], Side] = field(default_factory=dict)
    base_sides: dict[tuple[str, str], Side] = field(default_factory=dict)
    pmds: dict[tuple[str, str], Pmd] = field(default_factory=dict)
    base_pmds: dict[tuple[str, str], Pmd] = field(default_factory=dict)
    pooled: dict[tuple[str, str], Pmd] = field(default_factory=dict)

    @cached_property
    def answered(self) -> dict[str, set[str]]:
        """Groups with answers in the current window, per service."""
        out: dict[str, set[str]] = {}
        for service, group in self.current:
            out.setdefault(service, set()).add(group)
        return out


# A drop in promoters − detractors stands only with the mean score's own drop (p ≤ this): the
# shares past 9 and 6 swing with tiny moves of the mean around the cut-offs; on orgsim's tuning
# seeds 4 of 7 false perception leaks were such swings with the mean unmoved.
MEAN_MOVED = 0.05


def measure(ctx: CheckContext, spec: PerceptionSpec) -> SurveyMeasures | None:
    """The answers per dimension and per respondent, each for both windows in one query
    (``_window`` names which, as for the tickets: one scan for what two read; 0.1 s of CPU on
    the large demo), and each (service, group)'s last answer. Every aggregate is an exact
    integer sum (:mod:`dipstick.indicators.moments`) or a count, so grouping by the window
    changes no bit of them."""
    if not ctx.signals.has("surveys"):
        return None
    lf = ctx.signals.frame("surveys").with_columns(nw.col("score").cast(nw.Float64))
    w = ctx.window
    both = windowed(lf, "date", ctx)
    dimensions: dict[str, dict[tuple[str, str], dict[str, Any]]] = {CURRENT: {}, BASELINE: {}}
    agg = (both.with_columns(promoter=nw.when(nw.col("score") >= 9).then(1).otherwise(0),
                             detractor=nw.when(nw.col("score") <= 6).then(1).otherwise(0))
           .group_by("service", "group", "dimension", "_window")
           .agg(*sums("score", "score"), n=nw.len(),
                promoters=nw.col("promoter").sum(), detractors=nw.col("detractor").sum()))
    for r in collect(agg):
        window = r.pop("_window")
        r["mean"], r["sd"] = mean_sd(r, "score", int(r["n"]))
        dimensions[window].setdefault((r["service"], r["group"]), {})[r["dimension"]] = r
    people: dict[str, dict[tuple[str, str], tuple[int, float]]] = {CURRENT: {}, BASELINE: {}}
    if "respondent" in lf.collect_schema().names():
        agg = (both.filter(~nw.col("respondent").is_null())
               .group_by("service", "group", "respondent", "_window").agg(
                   m=nw.col("score").mean())
               .group_by("service", "group", "_window").agg(*sums("m", "m"), n=nw.len()))
        for r in collect(agg):
            people[r["_window"]][(r["service"], r["group"])] = (
                int(r["n"]), mean_sd(r, "m", int(r["n"]))[1] or 0.0)
    last = (lf.filter(nw.col("date") < w.end).group_by("service", "group")
            .agg(nw.col("date").max()))

    def weight(group: str, dimension: str) -> float:
        g = ctx.model.group(group)
        return g.weight(dimension) if g else 1.0

    now, before = dimensions[CURRENT], dimensions[BASELINE]
    return SurveyMeasures(now, before,
                          {(r["service"], r["group"]): r["date"].date() for r in collect(last)},
                          people[CURRENT], people[BASELINE],
                          sides(now, weight, people[CURRENT]),
                          sides(before, weight, people[BASELINE]),
                          pmds(now), pmds(before), pmds(now, before))


def weighted_score(ctx: CheckContext, group: str, dims: dict[str, Any]) -> float | None:
    """The group's value score: its dimensions' means weighted as the group weighs them (the
    service page shows the same number the check judged)."""
    return _score(*_weights(ctx.model.group(group), dims), dims)


def _weights(g: StakeholderGroup | None, dims: dict[str, Any]) -> tuple[dict[str, float], float]:
    """The group's weight of each dimension answered and their sum, worked out once for the
    score and its variance (assess needed them five times a group)."""
    # in the dimensions' name order, not the order the engine's threads returned them: a sum's
    # last bits follow its order, and a drop of exactly 0.00625 rounded to 0.0062 on DuckDB and
    # 0.0063 on Spark (issue 18's 10 M run)
    weights = {d: (g.weight(d) if g else 1.0) for d in sorted(dims)}
    return weights, sum(weights.values())


def _score(weights: dict[str, float], total: float, dims: dict[str, Any]) -> float | None:
    return sum(weights[d] * dims[d]["mean"] for d in weights) / total if total else None


def _variance(weights: dict[str, float], total: float, ds: dict[str, Any],
              who: tuple[int, float] | None) -> float | None:
    """The variance of the weighted score (see :func:`score_test`)."""
    if not total or any(ds[d]["n"] < 2 for d in ds):
        return None
    sd = {d: max(ds[d]["sd"] or 0.0, 1.0) for d in ds}
    if who is None or who[0] < 2:
        return float(sum(weights[d] * sd[d] / math.sqrt(ds[d]["n"]) for d in weights) ** 2
                     / total ** 2)
    apart = sum(weights[d] ** 2 * sd[d] ** 2 / ds[d]["n"] for d in weights) / total ** 2
    return float(max(apart, max(who[1], 1.0) ** 2 / who[0]))


def _side(g: StakeholderGroup | None, dims: dict[str, Any],
          who: tuple[int, float] | None) -> Side:
    weights, total = _weights(g, dims)
    return (_score(weights, total, dims), _variance(weights, total, dims, who),
            int(sum(d["n"] for d in dims.values())))


def score_test(ctx: CheckContext, group: str, dims: dict[str, Any], line: float,
               base_dims: dict[str, Any] | None = None,
               people: tuple[tuple[int, float] | None, tuple[int, float] | None] = (None, None),
               ) -> Test | None:
    """The weighted value score against ``line`` (or, with ``base_dims``, the baseline score
    minus the current one against ``line``), by a normal test. The score is a weighted sum of
    dimension means answered by the same people, whose answers move together: its variance is
    the larger of Σ w²·sd²/n ÷ (Σ w)² (dimensions independent) and sd²/n of the respondents'
    own mean answers (``people``: (respondents, sd) now and before); without respondent ids,
    (Σ w·sd/√n)² ÷ (Σ w)² (dimensions moving as one). Sds floored at 1 point."""
    g = ctx.model.group(group)
    return _score_test(_side(g, dims, people[0]), line,
                       None if base_dims is None else _side(g, base_dims, people[1]))


def _score_test(now: Side, line: float, before: Side | None = None) -> Test | None:
    """:func:`score_test` from each window's side, worked out once per group by assess."""
    score, v, n = now
    if score is None or v is None:
        return None
    if before is None:
        se = math.sqrt(v)
        p = normal_tail((score - line) / se, higher_is_worse=False)
        return Test(score, score - Z95 * se, score + Z95 * se, p, n, f"{n} answers")
    base, bv, nb = before
    if base is None or bv is None:
        return None
    drop, se = base - score, math.sqrt(v + bv)
    p = normal_tail((drop - line) / se, higher_is_worse=True)
    return Test(drop, drop - Z95 * se, drop + Z95 * se, p, n + nb, f"{n} vs {nb} answers")


def _pmd(dims: dict[str, Any] | list[dict[str, Any]]) -> tuple[float, float, int]:
    """Promoters − detractors (points), one answer's variance and n over the answers to
    ``dims`` (per dimension, or a list of them): a difference of two shares of one
    multinomial sample, P + D − (P − D)² (floored at 1/n); the mean's is that ÷ n."""
    ds = list(dims.values()) if isinstance(dims, dict) else dims
    n = int(sum(d["n"] for d in ds))
    pro = sum(d["promoters"] for d in ds) / n
    det = sum(d["detractors"] for d in ds) / n
    return 100 * (pro - det), 100 ** 2 * max(pro + det - (pro - det) ** 2, 1.0 / n), n


def pmd_drop_test(dims: dict[str, Any], base_dims: dict[str, Any], least: int,
                  base: tuple[float, float, int] | None = None) -> Test | None:
    """The drop of promoters − detractors against the group's own baseline (no change): a
    normal test on the difference of two independent samples, higher is worse. Below
    ``least`` answers on either side the normal approximation means nothing (two answers give
    ±100). The level itself differs by nature between groups (−40 can be a healthy normal), so
    only its change is judged. ``base``: ``_pmd(base_dims)`` if the caller has it."""
    if min(sum(d["n"] for d in dims.values()),
           sum(d["n"] for d in base_dims.values())) < max(least, 2):
        return None
    return _pmd_drop(_pmd(dims), base or _pmd(base_dims),
                     _pmd([*dims.values(), *base_dims.values()]), least)


def _pmd_drop(now: Pmd, before: Pmd, pooled: Pmd, least: int) -> Test | None:
    """:func:`pmd_drop_test` from each window's :func:`_pmd` and both windows' together."""
    (x1, v1, n1), (x0, v0, n0) = now, before
    if min(n1, n0) < max(least, 2):
        return None
    drop, se = x0 - x1, math.sqrt(v1 / n1 + v0 / n0)
    # the p-value under "no change": both samples from one distribution, its variance from
    # both together (a small window of mostly detractors has a small variance of its own,
    # which made 2.5-sigma chance drops read as 3.8 sigma on orgsim's tuning seeds)
    z = drop / math.sqrt(pooled[1] * (1 / n1 + 1 / n0))
    return Test(drop, drop - Z95 * se, drop + Z95 * se, normal_tail(z, higher_is_worse=True),
                n1 + n0, f"{n1} vs {n0} answers")


def assess(service: Service, m: SurveyMeasures | None, ctx: CheckContext,
           spec: PerceptionSpec) -> Finding:
    if m is None:
        return unknown(service.id, CAUSE, "no surveys table: no pulse-check answers", ACTION)
    w = ctx.window
    groups = list(service.consumers) + sorted(
        g for g in m.answered.get(service.id, ()) if g not in service.consumers)
    if not groups:
        return unknown(service.id, CAUSE, "no consuming stakeholder group and no answers", ACTION)
    ev: list[Evidence] = []
    scores: list[float] = []
    max_age = ctx.common.checkin_max_age_days
    for gid in groups:
        group = ctx.model.group(gid)
        name = group.name if group else gid
        last = m.last.get((service.id, gid))
        if last is None:
            ev.append(fact(f"checkin:{gid}", f"Last check-in with {name}", "never", w.period,
                           Status.WATCH, note=f"you have never asked {name}",
                           threshold=f"at most {max_age} days ago"))
        elif (w.as_of - last).days > max_age:
            ev.append(fact(f"checkin:{gid}", f"Last check-in with {name}", last.isoformat(),
                           w.period, Status.WATCH, note=f"you have not asked {name} since {last}",
                           threshold=f"at most {max_age} days ago"))
        else:
            ev.append(fact(f"checkin:{gid}", f"Last check-in with {name}", last.isoformat(),
                           w.period, Status.OK, threshold=f"at most {max_age} days ago"))
        dims = m.current.get((service.id, gid))
        if not dims:
            continue
        # each window's score and variance, worked out for all groups at once by measure
        key = (service.id, gid)
        now = m.sides[key]
        score = now[0]
        base_dims = m.baseline.get(key)
        before = m.base_sides[key] if base_dims else None
        base = before[0] if before else None
        n = sum(d["n"] for d in dims.values())
        pmd = 100.0 * sum(d["promoters"] - d["detractors"] for d in dims.values()) / n
        least = ctx.common.min_sample
        ev.append(tested(f"value_score:{gid}", f"Value score of {name} (0–10, weighted)",
                         score, spec.value_score, w.period,
                         _score_test(now, spec.value_score.leak), baseline=base))
        base_p = m.base_pmds[key] if base_dims else None
        base_pmd = base_p[0] if base_p else None
        ev.append(evidence(f"pmd:{gid}", f"Promoters − detractors of {name}", pmd, None,
                           w.period, unit=" pts", baseline=base_pmd,
                           note=f"{n} answers; shown, judged only as a drop against the "
                                "group's own baseline"))
        drop_test, drop = None, None
        if base is not None and score is not None:
            drop = base - score
            drop_test = _score_test(now, 0.0, before)
        if base_p is not None:
            e = tested(f"pmd_drop:{gid}", f"Drop in promoters − detractors of {name}",
                       base_pmd - pmd, spec.promoters_minus_detractors_drop, w.period,
                       _pmd_drop(m.pmds[key], base_p, m.pooled[key], least),
                       baseline=base_pmd, unit=" pts", relative=True)
            if drop_test is None or drop_test.p > MEAN_MOVED:
                e = at_most_watch(e, "the mean score did not surely fall: the shares past the "
                                     "cut-offs (9 and 6) moving alone is noise of the cut-offs")
            ev.append(e)
        if drop is not None:
            ev.append(tested(f"value_drop:{gid}", f"Drop in value score of {name}",
                             drop, spec.value_drop, w.period, drop_test,
                             baseline=base, unit=" pts", relative=True))
        if score is not None and n >= least:
            scores.append(score)
    cost = monthly_costs(ctx).get(service.id, 0.0)
    leak = LeakEstimate.none("no value score in the current window")
    if scores:
        low = min(scores)
        share = max(0.0, (spec.value_target - low) / spec.value_target)
        leak = LeakEstimate(cost * share, 0.0,
                            f"run cost {money(cost)} {ctx.currency} × value gap "
                            f"({spec.value_target:g} − {low:.1f}) / {spec.value_target:g} "
                            f"= {share:.0%} of the run cost not perceived as value")
    return conclude(service.id, CAUSE, ev, leak, ACTION)


INDICATOR = Indicator(
    cause=CAUSE,
    title="Perception",
    question="Do the stakeholder groups still see value, and when did we last ask them?",
    action=ACTION,
    spec=PerceptionSpec,
    measure=measure,
    assess=assess,
)
