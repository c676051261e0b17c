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


def _random_windows(seed: int, groups: int = 600) -> tuple[
        dict[tuple[str, str], dict[str, Any]], dict[tuple[str, str], tuple[int, float]],
        dict[tuple[str, str], float]]:
    """Groups of 1–4 dimensions (names in any order), counts from 1 (too few to test), sds
    missing, below the 1-point floor or wide, respondents missing, alone or many."""
    import numpy as np

    rng = np.random.default_rng(seed)
    table: dict[tuple[str, str], dict[str, Any]] = {}
    people: dict[tuple[str, str], tuple[int, float]] = {}
    weights: dict[tuple[str, str], float] = {}
    names = ["time_saved", "ease", "compliance", "cost", "b", "a"]
    for i in range(groups):
        key = (f"s{i % 97}", f"g{i}")
        dims: dict[str, Any] = {}
        for d in rng.permutation(names)[: int(rng.integers(1, 5))]:
            n = int(rng.choice([1, 2, 3, int(rng.integers(4, 400))]))
            pro = int(rng.integers(0, n + 1))
            dims[str(d)] = {
                "n": n, "mean": float(rng.choice([rng.uniform(0, 10), 7.0, 1 / 3])),
                "sd": None if n < 2 or rng.random() < 0.1 else float(rng.choice(
                    [rng.uniform(0, 0.99), 1.0, rng.uniform(1, 4), 0.0])),
                "promoters": float(pro), "detractors": float(rng.integers(0, n - pro + 1))}
            weights[(key[1], str(d))] = float(rng.choice(
                [1.0, 0.1, 1 / 3, 2.5, 7.3e-3, float(rng.uniform(0, 5))]))
        if rng.random() < 0.05:                   # weighs nothing: no score
            for d in dims:
                weights[(key[1], d)] = 0.0
        table[key] = dims
        who = rng.random()
        if who < 0.7:
            people[key] = (int(rng.choice([1, 2, int(rng.integers(3, 90))])),
                           float(rng.choice([0.0, 0.5, 1.0, rng.uniform(0, 9)])))
    return table, people, weights


def test_all_groups_sides_at_once_equal_each_groups_own_bit_for_bit() -> None:
    """``perception_sides.sides`` and ``pmds`` (arrays over every group, session 18) give the
    very floats of ``_score``, ``_variance`` and ``_pmd`` worked out one group at a time."""
    from dipstick.indicators import perception_sides

    seen = {"no score": 0, "too few": 0, "apart": 0, "own people": 0, "as one": 0}
    for seed in range(4):
        table, people, weights = _random_windows(seed)
        got = perception_sides.sides(table, lambda g, d, w=weights: w[(g, d)], people)
        assert list(got) == list(table)
        for key, dims in table.items():
            w = {d: weights[(key[1], d)] for d in sorted(dims)}
            total = sum(w.values())
            who = people.get(key)
            want = (perception._score(w, total, dims), perception._variance(w, total, dims, who),
                    int(sum(d["n"] for d in dims.values())))
            assert got[key] == want, (key, dims, who)
            seen["no score"] += want[0] is None
            seen["too few"] += want[0] is not None and want[1] is None
            if want[1] is not None and who is not None and who[0] >= 2:
                own = max(who[1], 1.0) ** 2 / who[0]
                seen["own people" if own == want[1] else "apart"] += 1
            elif want[1] is not None:
                seen["as one"] += 1
        half = dict(list(table.items())[::2])
        other = {k: table[k2] for k, k2 in zip(half, list(table)[1::2], strict=False)}
        for key, p in perception_sides.pmds(table).items():
            assert p == perception._pmd(table[key])
        pooled = perception_sides.pmds(half, other)
        assert list(pooled) == [k for k in half if k in other]
        for key, p in pooled.items():
            assert p == perception._pmd([*half[key].values(), *other[key].values()])
    assert min(seen.values()) >= 10, seen


def test_assess_with_the_sides_of_measure_equals_each_groups_own_tests(ctx: CheckContext
                                                                        ) -> None:
    """The tests assess builds from measure's arrays are those of ``score_test`` and
    ``pmd_drop_test`` on the group's own dimensions."""
    spec = split_settings(ctx.model.settings, perception.PerceptionSpec)
    m = perception.measure(ctx, spec)
    assert m is not None
    least = ctx.common.min_sample
    checked = 0
    for (sid, group), dims in m.current.items():
        g = ctx.model.group(group)
        who = (m.people.get((sid, group)), m.base_people.get((sid, group)))
        assert m.sides[(sid, group)] == perception._side(g, dims, who[0])
        base = m.baseline.get((sid, group))
        if not base:
            continue
        assert m.base_sides[(sid, group)] == perception._side(g, base, who[1])
        assert m.base_pmds[(sid, group)] == perception._pmd(base)
        assert perception._pmd_drop(m.pmds[(sid, group)], m.base_pmds[(sid, group)],
                                    m.pooled[(sid, group)], least) \
            == perception.pmd_drop_test(dims, base, least)
        checked += 1
    assert checked >= 5
