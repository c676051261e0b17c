"""Alignment shows each active outcome's KPI once per outcome, worked out in ``measure``
(session 19): every service's finding must be, field for field, what the per-service loop
made before — the KPI's actual, its drift test and the weighted gap — on nasty links (an
unknown outcome, one linked twice, a retired one, one without a KPI, a target of 0) and nasty
KPI data (no actual, no baseline, one value, NaN, −0.0)."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from dipstick.findings import (
    CheckContext,
    Evidence,
    Finding,
    LeakEstimate,
    Status,
    conclude,
    evidence,
    fact,
)
from dipstick.indicators import alignment
from dipstick.indicators.base import money
from dipstick.indicators.registry import split_settings
from dipstick.model import Service


def _per_service(service: Service, m: alignment.AlignmentMeasures, ctx: CheckContext,
                 spec: alignment.AlignmentSpec) -> Finding:
    """``alignment.assess`` as it was before session 19: each link's KPI evidence made anew."""
    w, sid = ctx.window, service.id
    cost = m.costs.get(sid, 0.0)
    total = sum(v.contribution for v in service.supports)
    assert ctx.model.outcomes and service.supports     # the cases below
    over = [v for v in service.supports
            if (o := ctx.model.outcome(v.outcome)) is not None and o.status != "active"]
    over_share = sum(v.contribution for v in over) / total
    ev: list[Evidence] = [fact(
        "links_to_ended_outcomes", "Share of value links to ended outcomes", over_share,
        w.period, Status.LEAK if over_share >= 1 else Status.WATCH if over else Status.OK,
        note=", ".join(f"{v.outcome} ({o.status})" for v in over
                       if (o := ctx.model.outcome(v.outcome))))]
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
        gap = alignment.kpi_shortfall(o.kpi.target, actual, o.kpi.direction)
        weighted_gap += v.contribution * gap
        known += v.contribution
        ev.append(fact(f"kpi:{o.id}", f"KPI {o.kpi.name} ({o.name})", actual, w.period,
                       Status.OK, note=f"target {o.kpi.target:g} ({o.kpi.direction}), "
                       f"gap {gap:.0%}"))
        now, before = m.kpi_now.get(o.id), m.kpi_before.get(o.id)
        if now is not None and before is not None:
            ev.append(alignment._drift(o, now, before, spec,
                                       f"{w.baseline_period} → {w.period}"))
    gap_share = weighted_gap / known if known else None
    ev.append(evidence("kpi_gap", "KPI gap of supported outcomes (weighted)", gap_share,
                       spec.kpi_gap, w.period))
    share = min(1.0, over_share + (gap_share or 0.0) * (1 - over_share))
    leak = LeakEstimate(cost * share, 0.0,
                        f"run cost {money(cost)} {ctx.currency} × ({over_share:.0%} linked to "
                        f"ended outcomes + {gap_share or 0:.0%} KPI gap on the rest)")
    return conclude(sid, alignment.CAUSE, ev, leak, alignment.ACTION)


def _nasty(ctx: CheckContext) -> CheckContext:
    """The demo's model with nasty outcomes and links (see the module's docstring)."""
    raw: dict[str, Any] = ctx.model.model_dump()
    outcomes = raw["outcomes"]
    outcomes[1]["kpi"] = None
    outcomes[2]["kpi"]["target"] = 0.0
    outcomes[3]["kpi"]["direction"] = "down"
    ended = next(o["id"] for o in outcomes if o["status"] != "active")
    raw["services"][0]["supports"] = [
        {"outcome": "nowhere", "contribution": 0.5},
        {"outcome": outcomes[0]["id"], "contribution": 0.25},
        {"outcome": outcomes[0]["id"], "contribution": 0.25},
        {"outcome": ended}, {"outcome": outcomes[1]["id"]}, {"outcome": outcomes[2]["id"]}]
    raw["services"][1]["supports"] = [{"outcome": o["id"], "contribution": 0.1}
                                      for o in outcomes]
    return dataclasses.replace(ctx, model=type(ctx.model).model_validate(raw))


def _same(a: Finding, b: Finding) -> None:
    """Equal field for field, NaN equal to NaN and −0.0 told from 0.0 (by ``repr``)."""
    assert repr(a) == repr(b)


def test_assess_shows_each_outcome_as_the_per_service_loop_did(ctx: CheckContext) -> None:
    ctx = _nasty(ctx)
    spec = split_settings(ctx.model.settings, alignment.AlignmentSpec)
    m = alignment.measure(ctx, spec)
    ids = [o.id for o in ctx.model.outcomes]
    assert m.kpi_now and m.kpi_before and len(m.kpis) >= 10
    # nasty data: no actual, no baseline, no current stats, one value, NaN, −0.0
    latest = {**m.kpi_latest, ids[0]: -0.0, ids[2]: 5.0}
    latest.pop(ids[4], None)
    now = {**m.kpi_now, ids[5]: (math.nan, 0.0, 1), ids[6]: (3.0, 0.0, 1),
           ids[0]: (-0.0, 0.0, 2)}
    now.pop(ids[7], None)
    before = dict(m.kpi_before)
    before.pop(ids[8], None)
    before[ids[9]] = (1.0, math.nan, 3)
    nasty = dataclasses.replace(m, kpi_latest=latest, kpi_now=now, kpi_before=before,
                                kpis=alignment._outcome_kpis(ctx, spec, latest, now, before))
    drifts = 0
    for measures in (m, nasty):
        for service in ctx.model.services:
            if not service.supports:
                continue
            found = alignment.assess(service, measures, ctx, spec)
            _same(found, _per_service(service, measures, ctx, spec))
            drifts += sum(e.metric.startswith("kpi_drift:") for e in found.evidence)
    assert drifts > 20


def test_assess_without_kpis_table_shows_no_actual(ctx: CheckContext) -> None:
    """No ``kpis`` table: every active outcome with a KPI shows "no KPI actual"."""
    ctx = _nasty(ctx)
    spec = split_settings(ctx.model.settings, alignment.AlignmentSpec)
    m = alignment.measure(ctx, spec)
    bare = dataclasses.replace(m, kpi_latest={}, kpi_now={}, kpi_before={},
                               kpis=alignment._outcome_kpis(ctx, spec, {}, {}, {}))
    for service in ctx.model.services:
        if service.supports:
            _same(alignment.assess(service, bare, ctx, spec),
                  _per_service(service, bare, ctx, spec))
