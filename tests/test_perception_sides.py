"""Perception's assess works out each window's score, variance and weights once per group
(session 17): its value-score and drop tests must be, bit for bit, the tests of the formulas
``score_test`` documents, each window with its own respondents."""

from __future__ import annotations

import math
from typing import Any

from dipstick.findings import CheckContext
from dipstick.indicators import perception
from dipstick.indicators.registry import split_settings
from dipstick.stats import Z95, normal_tail


def _by_hand(ctx: CheckContext, group: str, dims: dict[str, Any],
             who: tuple[int, float] | None) -> tuple[float, float, int] | None:
    """Score, variance and answers of one window, as ``score_test``'s docstring says."""
    g = ctx.model.group(group)
    names = sorted(dims)
    w = [g.weight(d) if g else 1.0 for d in names]
    total = sum(w)
    if not total or any(dims[d]["n"] < 2 for d in names):
        return None
    score = sum(wi * dims[d]["mean"] for wi, d in zip(w, names, strict=True)) / total
    sd = [max(dims[d]["sd"] or 0.0, 1.0) for d in names]
    ns = [dims[d]["n"] for d in names]
    if who is None or who[0] < 2:
        var = sum(wi * s / math.sqrt(n) for wi, s, n in zip(w, sd, ns, strict=True)) ** 2 \
            / total ** 2
    else:
        apart = sum(wi ** 2 * s ** 2 / n for wi, s, n in zip(w, sd, ns, strict=True)) \
            / total ** 2
        var = max(apart, max(who[1], 1.0) ** 2 / who[0])
    return score, var, int(sum(ns))


def test_assess_tests_each_window_with_its_own_people(ctx: CheckContext) -> None:
    spec = split_settings(ctx.model.settings, perception.PerceptionSpec)
    m = perception.measure(ctx, spec)
    assert m is not None
    seen = {"level": 0, "drop": 0, "own people": 0}
    for service in ctx.model.services:
        ev = {e.metric: e for e in perception.assess(service, m, ctx, spec).evidence}
        for (sid, group), dims in m.current.items():
            if sid != service.id or f"value_score:{group}" not in ev:
                continue
            now = _by_hand(ctx, group, dims, m.people.get((sid, group)))
            if now is None:
                continue
            score, var, n = now
            se = math.sqrt(var)
            level = ev[f"value_score:{group}"]
            p = normal_tail((score - spec.value_score.leak) / se, higher_is_worse=False)
            assert (level.p, level.low, level.high, level.n) == (
                round(p, 6), round(score - Z95 * se, 4), round(score + Z95 * se, 4), n)
            seen["level"] += 1
            base_dims = m.baseline.get((sid, group))
            who = m.base_people.get((sid, group))
            before = _by_hand(ctx, group, base_dims, who) if base_dims else None
            if before is None:
                continue
            base, bv, nb = before
            drop, se = base - score, math.sqrt(var + bv)
            p = normal_tail(drop / se, higher_is_worse=True)
            got = ev[f"value_drop:{group}"]
            assert (got.p, got.low, got.high, got.n, got.baseline) == (
                round(p, 6), round(drop - Z95 * se, 4), round(drop + Z95 * se, 4), n + nb, base)
            seen["drop"] += 1
            seen["own people"] += who != m.people.get((sid, group))
    assert min(seen.values()) >= 5, seen


def test_the_drop_of_promoters_minus_detractors_takes_the_baseline_it_is_given() -> None:
    def dim(n: int, pro: int, det: int) -> dict[str, Any]:
        return {"n": n, "promoters": pro, "detractors": det}

    now = {"a": dim(30, 5, 12), "b": dim(28, 4, 15)}
    before = {"a": dim(40, 14, 6), "b": dim(41, 12, 9)}
    alone = perception.pmd_drop_test(now, before, 10)
    assert alone is not None
    assert perception.pmd_drop_test(now, before, 10, perception._pmd(before)) == alone
    assert perception.pmd_drop_test(now, before, 100, perception._pmd(before)) is None
