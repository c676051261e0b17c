"""The value map page (``/value-map``) and its API (``/api/outcomes``): every outcome with its
KPI against target and the services that support it, and the services that support no live
outcome. Both read one dictionary built by :func:`outcomes_view`; the page adds the Sankey.

Value links, outcomes and groups are not in the stored run: they come from the run's package,
re-checked once (:mod:`dipstick.web.context`); when it cannot be read the page says why.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from dipstick.check import ServiceVerdict
from dipstick.figures import json_island
from dipstick.figures.valuemap import (
    no_live_outcome,
    outcome_kpis,
    service_nodes,
    value_map_figure,
    weighting_note,
)
from dipstick.findings import Status
from dipstick.model import Service, ValueModel
from dipstick.store import Store
from dipstick.web.api import ItemLimit, ItemOffset
from dipstick.web.auth import ApiUser, PageUser, store_of
from dipstick.web.context import RunContext
from dipstick.web.templating import render
from dipstick.web.views import DEFAULT_LIMIT, latest_context, page_of

router = APIRouter()

KPI_ORDER = {"leak": 0, "watch": 1, "unknown": 2, "ok": 3}


def _lights(v: ServiceVerdict | None) -> dict[str, str]:
    return {f.cause: f.status.value for f in v.findings} if v else {}


def _service(s: Service, v: ServiceVerdict | None, **extra: Any) -> dict[str, Any]:
    return {"id": s.id, "name": s.name, "owner": s.owner, "lifecycle": s.lifecycle,
            "status": v.status.value if v else Status.UNKNOWN.value, **extra,
            "lights": _lights(v)}


def _outcome_status(model: ValueModel, outcome_id: str) -> str:
    found = model.outcome(outcome_id)
    return found.status if found else "unknown outcome"


def outcomes_view(store: Store) -> tuple[dict[str, Any], RunContext | None]:
    """Outcomes (active first, worst KPI first), each with its KPI and its supporting services
    (worst light first); the services with no live outcome; and how the map groups services."""
    view, ctx = latest_context(store)
    empty: dict[str, Any] = {"outcomes": [], "no_live_outcome": [], "summary": None, "map": None}
    if ctx is None:
        return view | empty, None
    model, result = ctx.model, ctx.result
    verdicts = {v.service.id: v for v in result.verdicts}
    rank = {v.service.id: i for i, v in enumerate(result.verdicts)}
    kpis = outcome_kpis(model, result)
    supporters: dict[str, list[tuple[Service, float]]] = defaultdict(list)
    for s in model.services:
        for link in s.supports:
            supporters[link.outcome].append((s, link.contribution))
    outcomes: list[dict[str, Any]] = []
    for o in model.outcomes:
        k = kpis[o.id]
        outcomes.append({
            "id": o.id, "name": o.name, "owner": o.owner, "status": o.status,
            "kpi": None if o.kpi is None else {
                "name": o.kpi.name, "target": o.kpi.target, "direction": o.kpi.direction,
                "actual": k.actual, "gap": None if k.gap is None else round(k.gap, 4),
                "status": k.status.value, "period": k.period},
            "kpi_status": k.status.value,
            "services": [_service(s, verdicts.get(s.id), contribution=c) for s, c in sorted(
                supporters[o.id], key=lambda sc: (rank.get(sc[0].id, len(rank)), sc[0].id))],
        })
    outcomes.sort(key=lambda o: (o["status"] != "active", KPI_ORDER[o["kpi_status"]]))
    stranded = sorted(no_live_outcome(model), key=lambda s: (rank.get(s.id, len(rank)), s.id))
    lonely = [_service(s, verdicts.get(s.id), monthly_cost=s.monthly_cost, links=[
        {"outcome": link.outcome, "outcome_status": _outcome_status(model, link.outcome)}
        for link in s.supports]) for s in stranded]
    nodes = service_nodes([v for v in result.verdicts if v.service.lifecycle != "retired"])
    individual = sum(1 for n in nodes.values() if n.startswith("s:"))
    active = [o for o in outcomes if o["status"] == "active"]
    return view | {
        "outcomes": outcomes,
        "no_live_outcome": lonely,
        "summary": {
            "outcomes": len(outcomes), "active": len(active),
            "off_target": sum(1 for o in active if o["kpi_status"] in ("leak", "watch")),
            "kpi_unknown": sum(1 for o in active if o["kpi_status"] == "unknown"),
            "no_live_outcome": len(lonely),
            "no_live_outcome_cost": round(sum(s["monthly_cost"] for s in lonely), 2)},
        "map": {"caption": weighting_note(result.currency), "individual": individual,
                "grouped": len(nodes) - individual,
                "capabilities": len({n for n in nodes.values() if n.startswith("c:")})},
    }, ctx


@router.get("/value-map", response_class=HTMLResponse, include_in_schema=False)
def value_map_page(request: Request, who: PageUser) -> HTMLResponse:
    view, ctx = outcomes_view(store_of(request))
    sankey = json_island(value_map_figure(ctx.model, ctx.result)) if ctx else None
    return render(request, "valuemap.html.j2", who, figures=sankey is not None, view=view,
                  sankey=sankey)


@router.get("/api/outcomes", tags=["api"])
def api_outcomes(request: Request, who: ApiUser, limit: ItemLimit = DEFAULT_LIMIT,
                 offset: ItemOffset = 0) -> dict[str, Any]:
    """Every outcome with its KPI against target and its supporting services and their lights;
    the services that support no live outcome (the value map's data). Both lists are paged by
    the same ``limit`` and ``offset``; ``summary`` counts them whole."""
    view = outcomes_view(store_of(request))[0]
    outcomes, page = page_of(view["outcomes"], limit, offset)
    lonely, _ = page_of(view["no_live_outcome"], limit, offset)
    return view | {"outcomes": outcomes, "no_live_outcome": lonely, "limit": page["limit"],
                   "offset": page["offset"]}
