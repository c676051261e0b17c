"""The streams page (``/streams``: every value stream's VSM timeline, and for streams discovered
from an event log their process map and discovery numbers) and the journeys page
(``/journeys``: every journey's emotion curve and its touchpoints now against before), with
their APIs ``/api/streams`` and ``/api/journeys``.

Stream and journey maps are not in the stored run: they come from re-checking the run's package
(:mod:`dipstick.web.context`). Each page's data is one dictionary, served as JSON by the API and
read by the template; the pages add the figures.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup

from dipstick.figures import (
    JOURNEYS_LIMIT,
    journeys_to_draw,
    json_island,
    process_map_figure,
    vsm_figure,
)
from dipstick.figures.journey import got_worse, journey_figure
from dipstick.store import Store
from dipstick.web.api import ItemLimit, ItemOffset
from dipstick.web.auth import ApiUser, PageUser, store_of
from dipstick.web.context import RunContext
from dipstick.web.templating import render
from dipstick.web.views import DEFAULT_LIMIT, latest_context, page_of

router = APIRouter()


def streams_view(store: Store) -> tuple[dict[str, Any], RunContext | None]:
    """Every value stream's measures (``StreamMetrics.to_json``) with ``discovery`` (the
    discovery's ``to_json``, None for a hand-given stream)."""
    view, ctx = latest_context(store)
    if ctx is None:
        return view | {"streams": []}, None
    found = {m.id: d for m, d in ctx.result.processes}
    return view | {"streams": [
        m.to_json() | {"discovery": d.to_json() if (d := found.get(m.id)) else None}
        for m in ctx.result.streams]}, ctx


def journeys_view(store: Store) -> tuple[dict[str, Any], RunContext | None]:
    """Every journey's measures (``JourneyMeasures.to_json``), each touchpoint marked
    ``got_worse`` (satisfaction fell or drop-off rose past the indicator's watch level)."""
    view, ctx = latest_context(store)
    if ctx is None:
        return view | {"journeys": [], "drawn_limit": JOURNEYS_LIMIT}, None
    out = []
    for j in ctx.result.journeys:
        data = j.to_json()
        group = ctx.model.group(j.stakeholder_group) if j.stakeholder_group else None
        data["stakeholder_group_name"] = group.name if group else None
        data["has_data"] = j.has_data
        for stage, measured in zip(data["stages"], j.stages, strict=True):
            for tp, t in zip(stage["touchpoints"], measured.touchpoints, strict=True):
                tp["got_worse"] = got_worse(t)
        out.append(data)
    return view | {"journeys": out, "drawn_limit": JOURNEYS_LIMIT}, ctx


@router.get("/streams", response_class=HTMLResponse, include_in_schema=False)
def streams_page(request: Request, who: PageUser) -> HTMLResponse:
    view, ctx = streams_view(store_of(request))
    figs: dict[str, dict[str, Markup | None]] = {}
    if ctx:
        maps = {m.id: process_map_figure(d, m.name) for m, d in ctx.result.processes}
        figs = {m.id: {"vsm": json_island(vsm_figure(m)),
                       "process": json_island(maps[m.id]) if m.id in maps else None}
                for m in ctx.result.streams}
    return render(request, "streams.html.j2", who, figures=bool(figs), view=view, figs=figs)


@router.get("/journeys", response_class=HTMLResponse, include_in_schema=False)
def journeys_page(request: Request, who: PageUser) -> HTMLResponse:
    view, ctx = journeys_view(store_of(request))
    figs: dict[str, Markup] = {}
    if ctx:
        figs = {j.id: json_island(journey_figure(j))
                for j in journeys_to_draw(ctx.result.journeys)}
    return render(request, "journeys.html.j2", who, figures=bool(figs), view=view, figs=figs)


@router.get("/api/streams", tags=["api"])
def api_streams(request: Request, who: ApiUser, limit: ItemLimit = DEFAULT_LIMIT,
                offset: ItemOffset = 0) -> dict[str, Any]:
    """Every value stream of the latest run's package, one page of them (``total`` counts
    all): lead and process time, activity ratio, rolled %C&A, bottleneck and steps; for
    streams discovered from an event log, the discovery (cases, throughput, activities,
    edges, variants)."""
    view = streams_view(store_of(request))[0]
    streams, page = page_of(view["streams"], limit, offset)
    return view | page | {"streams": streams}


@router.get("/api/journeys", tags=["api"])
def api_journeys(request: Request, who: ApiUser, limit: ItemLimit = DEFAULT_LIMIT,
                 offset: ItemOffset = 0) -> dict[str, Any]:
    """Every customer journey of the latest run's package, one page of them (``total`` counts
    all): its touchpoints' satisfaction and drop-off now against the baseline, month by
    month."""
    view = journeys_view(store_of(request))[0]
    journeys, page = page_of(view["journeys"], limit, offset)
    return view | page | {"journeys": journeys}
