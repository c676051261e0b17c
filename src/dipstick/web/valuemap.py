"""The value map page (``/value-map``) and its API (``/api/outcomes``): every outcome with its
KPI against target and the services that support it, and the services that support no live
outcome. Both read one dictionary built by :func:`outcomes_view`; the page adds the Sankey.

The page's form (a plain GET: ``group``, ``show``, ``q``) chooses how the map groups services
and which it draws; the tables below it list every outcome and service whatever it asks. Costs
are each service's run cost as the check's formulas read it (``RunContext.costs``), never the
catalog's figure alone: a leak priced at 1,475 EUR must not sit next to a map saying 1,460.

Value links, outcomes and groups are not in the stored run: they come from the run's package,
re-checked once (:mod:`dipstick.web.context`); when it cannot be read the page says why.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from dipstick.check import ServiceVerdict
from dipstick.figures import json_island
from dipstick.figures.valuemap import (
    GROUP_NOUNS,
    GROUPINGS,
    MapOptions,
    no_live_outcome,
    outcome_kpis,
    run_cost,
    selected,
    service_nodes,
    value_map_figure,
    weighting_note,
)
from dipstick.findings import Status
from dipstick.indicators.common import RUN_COST_BASIS
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


def map_options(group: str | None, show: str | None, q: str | None) -> MapOptions:
    """The form's values; one the page does not offer falls back to its default (the form
    then shows what was applied)."""
    return MapOptions(group=next((g for g in GROUPINGS if g == group), "none"),
                      show="attention" if show == "attention" else
                      "leak" if show == "leak" else "all",
                      text=(q or "").strip())


def outcomes_view(store: Store, options: MapOptions = MapOptions()
                  ) -> tuple[dict[str, Any], RunContext | None]:
    """Outcomes (active first, worst KPI first), each with its KPI and its supporting services
    (worst light first) and their run costs; the services with no live outcome; and what the
    map draws for ``options``."""
    view, ctx = latest_context(store)
    empty: dict[str, Any] = {"outcomes": [], "no_live_outcome": [], "summary": None, "map": None}
    if ctx is None:
        return view | empty, None
    model, result, costs = ctx.model, ctx.result, ctx.costs
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
            "services": [_service(s, verdicts.get(s.id), contribution=c,
                                  monthly_cost=round(run_cost(s, costs), 2)) for s, c in sorted(
                supporters[o.id], key=lambda sc: (rank.get(sc[0].id, len(rank)), sc[0].id))],
        })
    outcomes.sort(key=lambda o: (o["status"] != "active", KPI_ORDER[o["kpi_status"]]))
    stranded = sorted(no_live_outcome(model), key=lambda s: (rank.get(s.id, len(rank)), s.id))
    lonely = [_service(s, verdicts.get(s.id), monthly_cost=round(run_cost(s, costs), 2), links=[
        {"outcome": link.outcome, "outcome_status": _outcome_status(model, link.outcome)}
        for link in s.supports]) for s in stranded]
    drawn = selected(list(result.verdicts), options)
    nodes = service_nodes(drawn, options.group)
    individual = sum(1 for n in nodes.values() if n.startswith("s:"))
    running = sum(1 for v in result.verdicts if v.service.lifecycle != "retired")
    active = [o for o in outcomes if o["status"] == "active"]
    return view | {
        "outcomes": outcomes,
        "no_live_outcome": lonely,
        "summary": {
            "outcomes": len(outcomes), "active": len(active),
            "off_target": sum(1 for o in active if o["kpi_status"] in ("leak", "watch")),
            "kpi_unknown": sum(1 for o in active if o["kpi_status"] == "unknown"),
            "no_live_outcome": len(lonely),
            "no_live_outcome_cost": round(sum(s["monthly_cost"] for s in lonely), 2),
            "cost_basis": RUN_COST_BASIS},
        "map": {"caption": weighting_note(result.currency), "individual": individual,
                "grouped": len(nodes) - individual,
                "groups": len({n for n in nodes.values() if n.startswith("c:")}),
                "group": options.group, "group_noun": GROUP_NOUNS.get(options.group,
                                                                       "capabilities"),
                "show": options.show, "q": options.text, "services": len(drawn),
                "running": running},
    }, ctx


Asked = Annotated[str | None, Query(max_length=200)]


@router.get("/value-map", response_class=HTMLResponse, include_in_schema=False)
def value_map_page(request: Request, who: PageUser, group: Asked = None, show: Asked = None,
                   q: Asked = None) -> HTMLResponse:
    options = map_options(group, show, q)
    view, ctx = outcomes_view(store_of(request), options)
    sankey = (json_island(value_map_figure(ctx.model, ctx.result, costs=ctx.costs,
                                           options=options))
              if ctx and view["map"]["services"] else None)
    return render(request, "valuemap.html.j2", who, figures=sankey is not None, view=view,
                  sankey=sankey, groupings=GROUPINGS)


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
