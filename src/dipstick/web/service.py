"""The service page and its API: one service's story in the latest (or a chosen) check.

The stored run gives each cause's status, evidence, action and ``since``; the run's context
(:func:`dipstick.web.context.run_context`: stored with the run, or its package re-checked for
a run stored before migration 0011) gives what the rows do not keep:
the trends with their shifts, the survey scores and check-ins, the value links, the streams
and journeys. :func:`service_view` builds it all once as plain dictionaries: the page renders
them and ``/api/services/{id}`` returns them, so both always show the same numbers. Figures are
only drawn for the page, from the same objects.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse

from dipstick.check import CheckResult
from dipstick.errors import UsageError
from dipstick.figures import (
    cause_title,
    journey_figure,
    json_island,
    process_map_figure,
    trend_figure,
    vsm_figure,
)
from dipstick.figures._common import LAYOUT, STATUS_COLOURS, plotly_text
from dipstick.findings import CommonSpec, Status
from dipstick.indicators.registry import split_settings
from dipstick.model import ValueModel
from dipstick.store import Store
from dipstick.surveys import ServiceSurveys
from dipstick.web import views
from dipstick.web.actions import panel as actions_panel
from dipstick.web.auth import ApiUser, PageUser, can_read_comments, may_self_assess, store_of
from dipstick.web.context import Missing, RunContext
from dipstick.web.pulse import service_campaigns  # the check-ins (docs/pulse.md)
from dipstick.web.templating import render

# a stored run's id: bounded so an absurd one is a 422, not a database overflow
RunId = Annotated[int | None, Query(ge=1, le=2**31 - 1, description="a stored run's id")]

router = APIRouter()

STATUS_RANK = {"leak": 0, "watch": 1, "unknown": 2, "ok": 3, "n/a": 4}


@dataclass(frozen=True)
class Found:
    """The run and the service's stored row in it, with the run's package context."""

    run: dict[str, Any]
    service: dict[str, Any]
    run_id: int
    store: Store

    def context(self) -> RunContext | Missing:
        return views.model_context(self.run["package"], date.fromisoformat(self.run["as_of"]),
                                   views.PAGE_MODEL_WAIT_S, self.store, self.run_id)


def find(store: Store, service_id: str, run_id: int | None = None) -> Found:
    """The service in the chosen run (default: the latest); 404 when either is not there."""
    if run_id is None:
        run = views.latest_run(store)
        if run is None:
            raise HTTPException(404, "no check has been stored yet")
        run_id = run["run_id"]
    else:
        try:
            run = store.load_run(run_id)
        except UsageError:
            raise HTTPException(404, f"no run {run_id}") from None
    service = next((s for s in run["services"] if s["id"] == service_id), None)
    if service is None:
        raise HTTPException(404, f"no service {service_id!r} in run {run_id}")
    if any(c["evidence"] is None for c in service["causes"].values()):
        # the cached latest run holds no evidence or coverage: this service's, read now (a
        # copy: the cached run is shared)
        found = store.details(run_id, service_id)
        service = service | {"causes": {
            c: f | found.get(c, {"evidence": [], "coverage": []})
            for c, f in service["causes"].items()}}
    return Found(run, service, run_id, store)


# --- the data, as plain dictionaries ---------------------------------------------------------

def header(f: Found) -> dict[str, Any]:
    s = f.service
    return {
        "run": {"run_id": f.run_id, "organisation": f.run["organisation"],
                "currency": f.run["currency"], "as_of": f.run["as_of"],
                "window": f.run["window"], "package": f.run["package"]},
        "service": {k: s[k] for k in ("id", "name", "owner", "lifecycle", "status", "score",
                                      "since", "leak_per_month")},
        "episodes": f.service.get("episodes") or [],
    }


def causes(f: Found) -> list[dict[str, Any]]:
    """Every cause's finding, worst first (ties in the registry's order)."""
    order = {c: i for i, c in enumerate(f.run["causes"])}
    found = f.service["causes"]
    return [{"cause": c, "title": cause_title(c), **found[c]}
            for c in sorted(found, key=lambda c: (STATUS_RANK.get(found[c]["status"], 9),
                                                  order.get(c, 99)))]


def trends(ctx: RunContext, f: Found) -> list[dict[str, Any]]:
    """The leaking signals week by week with the shift that dates each leak."""
    out = []
    for c in causes(f):
        t = ctx.result.trends.get((f.service["id"], c["cause"]))
        if t is None:
            continue
        out.append({"cause": c["cause"], "title": c["title"], "label": t.label,
                    "since": c["since"], "shift": t.shift.isoformat(),
                    "before": _finite(t.before), "after": _finite(t.after),
                    "higher_is_worse": t.higher_is_worse,
                    "weeks": [w.isoformat() for w in t.weeks],
                    "values": [_finite(v) for v in t.values]})
    return out


def surveys(found: ServiceSurveys | None, comments: bool) -> dict[str, Any]:
    """Value scores by group and dimension and check-in recency; the raw comments only for
    those who may read them (the key is absent otherwise, not empty)."""
    out: dict[str, Any] = {"groups": [], "checkins": []}
    if found is not None:
        out["groups"] = [{
            "id": g.id, "name": g.name, "score": g.score, "baseline": g.baseline,
            "answers": g.answers,
            "dimensions": [{"id": d.id, "name": d.name, "weight": d.weight, "mean": d.mean,
                            "answers": d.answers, "baseline": d.baseline}
                           for d in g.dimensions],
        } for g in found.groups]
        out["checkins"] = [{
            "group": c.group, "name": c.name, "consumer": c.consumer,
            "last": c.last.isoformat() if c.last else None, "days": c.days,
            "status": c.status.value,
        } for c in found.checkins]
    if comments:
        names = {c.group: c.name for c in found.checkins} if found else {}
        out["comments"] = [{"date": c.date.isoformat(), "group": c.group,
                            "group_name": names.get(c.group, c.group),
                            "dimension": c.dimension, "score": c.score, "text": c.text}
                           for c in (found.comments if found else ())]
    return out


def value_links(model: ValueModel, service_id: str) -> dict[str, Any]:
    """Who consumes the service and which outcomes it supports (with the KPI's target)."""
    try:
        service = model.service(service_id)
    except KeyError:   # the package no longer has it: nothing to link
        return {"consumers": [], "outcomes": []}
    outcomes = []
    for link in service.supports:
        o = model.outcome(link.outcome)
        outcomes.append({
            "id": link.outcome, "name": o.name if o else link.outcome,
            "contribution": link.contribution, "status": o.status if o else None,
            "owner": o.owner if o else None,
            "kpi": ({"name": o.kpi.name, "target": o.kpi.target, "direction": o.kpi.direction}
                    if o and o.kpi else None)})
    consumers = []
    for gid in service.consumers:
        g = model.group(gid)
        consumers.append({"id": gid, "name": g.name if g else gid,
                          "kind": g.kind if g else None})
    return {"consumers": consumers, "outcomes": outcomes}


def streams(result: CheckResult, service_id: str) -> list[dict[str, Any]]:
    """The value streams with a step that uses the service, and which steps."""
    return [{**m.to_json(), "steps_using": [s.name for s in m.steps if service_id in s.services]}
            for m in result.streams if any(service_id in s.services for s in m.steps)]


def journeys(result: CheckResult, service_id: str) -> list[dict[str, Any]]:
    """The customer journeys with a touchpoint behind which the service runs."""
    out = []
    for j in result.journeys:
        mine = [{"stage": s.name, **t.to_json()} for s in j.stages for t in s.touchpoints
                if service_id in t.services]
        if mine:
            out.append({"id": j.id, "name": j.name, "persona": j.persona,
                        "stakeholder_group": j.stakeholder_group,
                        "window": {"current": j.period, "baseline": j.baseline_period},
                        "touchpoints": mine})
    return out


def history(store: Store, service_id: str) -> list[dict[str, Any]]:
    """The service's headline in every stored run, oldest first."""
    return [{"run_id": p.run_id, "as_of": p.as_of.isoformat(),
             "started_at": p.started_at.isoformat(), "status": p.status.value,
             "score": p.score, "leak_per_month": {"money": round(p.leak_money, 2),
                                                  "hours": round(p.leak_hours, 1)},
             "cause": p.leak_cause}
            for p in store.service_history(service_id)]


def service_view(store: Store, f: Found, ctx: RunContext | Missing,
                 comments: bool) -> dict[str, Any]:
    """Everything the service page shows. Parts that need the package are ``None`` when it
    cannot be read back, and ``context.reason`` says why."""
    sid = f.service["id"]
    return {
        **header(f),
        "causes": causes(f),
        "context": context_state(ctx),
        "trends": trends(ctx, f) if isinstance(ctx, RunContext) else None,
        "surveys": ({**surveys(ctx.surveys.get(sid), comments),
                     "checkin_max_age_days": split_settings(
                         ctx.model.settings, CommonSpec).checkin_max_age_days}
                    if isinstance(ctx, RunContext) else None),
        "value_links": value_links(ctx.model, sid) if isinstance(ctx, RunContext) else None,
        "streams": streams(ctx.result, sid) if isinstance(ctx, RunContext) else None,
        "journeys": journeys(ctx.result, sid) if isinstance(ctx, RunContext) else None,
        "history": history(store, sid),
    }


def context_state(ctx: RunContext | Missing) -> dict[str, Any]:
    return {"available": isinstance(ctx, RunContext),
            "reason": ctx.reason if isinstance(ctx, Missing) else None}


def _finite(value: float) -> float | None:
    """JSON has no NaN or infinity: a gap in a weekly series is ``null``."""
    return value if math.isfinite(value) else None


# --- figures (the page only) -----------------------------------------------------------------

def history_figure(points: list[dict[str, Any]], name: str, currency: str) -> dict[str, Any]:
    """The leak per month over the stored runs, each point in its run's status colour. A plain
    figure dictionary (plotly.js reads it as is): it changes with every run, and building a
    validated ``go.Figure`` would cost ~100 ms per page view."""
    # several runs of one as-of date (re-checks of the same data): one point per run on a
    # category axis of "date · #run", never a date axis squeezed to milliseconds
    shared = len({p["as_of"] for p in points}) < len(points)
    x = [f"{p['as_of']} · #{p['run_id']}" if shared else p["as_of"] for p in points]
    trace = {
        "type": "scatter", "mode": "lines+markers",
        "x": x, "y": [p["leak_per_month"]["money"] for p in points],
        "line": {"color": "#5b6b7b", "width": 1.5},
        "marker": {"size": 9, "color": [STATUS_COLOURS[Status(p["status"])] for p in points]},
        "customdata": [[p["run_id"], p["status"], p["leak_per_month"]["hours"]]
                       for p in points],
        "hovertemplate": (f"%{{x}} · run #%{{customdata[0]}} · %{{customdata[1]}}<br>"
                          f"%{{y:,.0f}} {plotly_text(currency)} and %{{customdata[2]:,.1f}} h "
                          "per month<extra></extra>"),
    }
    layout: dict[str, Any] = {
        **LAYOUT,
        "title": {"text": plotly_text(f"{name}: leak per month over the checks"),
                  "font": {"size": 13}},
        "height": 240, "margin": {"l": 60, "r": 20, "t": 48, "b": 30}, "showlegend": False,
        "yaxis": {"gridcolor": "#eceff3", "rangemode": "tozero",
                  "title": {"text": plotly_text(f"{currency} / month")}},
        "xaxis": {"gridcolor": "#eceff3", "type": "category" if shared else "date"},
    }
    if len(points) == 1:   # one run: a month around it, not an axis of milliseconds
        day = date.fromisoformat(points[0]["as_of"])
        layout["xaxis"]["range"] = [(day - timedelta(days=15)).isoformat(),
                                    (day + timedelta(days=15)).isoformat()]
    return {"data": [trace], "layout": layout}


_figures: OrderedDict[tuple[int, str], tuple[RunContext, dict[str, Any]]] = OrderedDict()
_figures_lock = threading.Lock()
KEEP_FIGURES = 64


def context_figures(ctx: RunContext, view: dict[str, Any]) -> dict[str, Any]:
    """The trend, stream, process and journey islands of one service: the same for every view
    of a cached run context, so built once (plotly's figure objects are slow to build)."""
    sid = view["service"]["id"]
    key = (id(ctx), sid)
    with _figures_lock:
        hit = _figures.get(key)
        if hit is not None and hit[0] is ctx:
            _figures.move_to_end(key)
            return hit[1]
    result, name = ctx.result, view["service"]["name"]
    mine = [m for m in result.streams if any(sid in s.services for s in m.steps)]
    discovered = {m.id: d for m, d in result.processes}
    wanted = {j["id"] for j in view["journeys"]}
    out = {
        "trends": [json_island(trend_figure(result.trends[(sid, t["cause"])],
                                       f"{name}: {t['label']}")) for t in view["trends"]],
        "streams": [json_island(vsm_figure(m)) for m in mine],
        "processes": {i: json_island(process_map_figure(discovered[m.id], m.name))
                      for i, m in enumerate(mine) if m.id in discovered},
        "journeys": [json_island(journey_figure(j)) for j in result.journeys if j.id in wanted],
    }
    with _figures_lock:
        _figures[key] = (ctx, out)
        while len(_figures) > KEEP_FIGURES:
            _figures.popitem(last=False)
    return out


def figures(view: dict[str, Any], ctx: RunContext | Missing) -> dict[str, Any]:
    """The page's figure islands, keyed like the view's lists (by position)."""
    out: dict[str, Any] = {"trends": [], "streams": [], "processes": {}, "journeys": []}
    if isinstance(ctx, RunContext):
        out.update(context_figures(ctx, view))
    if view["history"]:
        out["history"] = json_island(history_figure(view["history"], view["service"]["name"],
                                               view["run"]["currency"]))
    return out


# --- routes ----------------------------------------------------------------------------------

@router.get("/services/{service_id}", response_class=HTMLResponse, include_in_schema=False)
def service_page(request: Request, service_id: str, who: PageUser,
                 run: RunId = None) -> HTMLResponse:
    f = find(store_of(request), service_id, run)
    ctx = f.context()
    view = service_view(store_of(request), f, ctx, can_read_comments(who))

    checkins = service_campaigns(store_of(request), service_id, who, f.service["owner"])
    return render(request, "service.html.j2", who, view=view, figs=figures(view, ctx),
                  figures=True, pulse=checkins,
                  self_assess=may_self_assess(who, f.service["owner"]),
                  actions=actions_panel(f.store, {**f.run, "run_id": f.run_id}, f.service, who))


@router.get("/api/services/{service_id}", tags=["api"])
def service_api(request: Request, service_id: str, who: ApiUser,
                run: RunId = None) -> dict[str, Any]:
    """One service: each cause's evidence and action, the trends with their shifts, the
    stakeholders' value scores and check-ins, value links, streams, journeys and history
    (``surveys.comments`` only for roles that may read raw comments)."""
    f = find(store_of(request), service_id, run)
    return service_view(store_of(request), f, f.context(), can_read_comments(who))


@router.get("/api/services/{service_id}/evidence", tags=["api"])
def evidence_api(request: Request, service_id: str, who: ApiUser,
                 run: RunId = None) -> dict[str, Any]:
    """Each cause's status, evidence, leak estimate and recommended action, worst first."""
    f = find(store_of(request), service_id, run)
    return {**header(f), "causes": causes(f)}


@router.get("/api/services/{service_id}/shifts", tags=["api"])
def shifts_api(request: Request, service_id: str, who: ApiUser,
               run: RunId = None) -> dict[str, Any]:
    """The leaking signals week by week with the shift behind each leak (``since``)."""
    f = find(store_of(request), service_id, run)
    ctx = f.context()
    return {**header(f), "context": context_state(ctx),
            "trends": trends(ctx, f) if isinstance(ctx, RunContext) else None}


@router.get("/api/services/{service_id}/history", tags=["api"])
def history_api(request: Request, service_id: str, who: ApiUser,
                run: RunId = None) -> dict[str, Any]:
    """The service's status, score and leak per month in every stored check, oldest first;
    with ``run``, its history up to and including that run."""
    store = store_of(request)
    points = history(store, service_id)
    if not points:
        raise HTTPException(404, f"no stored check has a service {service_id!r}")
    if run is not None:
        upto = next((i for i, p in enumerate(points) if p["run_id"] == run), None)
        if upto is None:
            raise HTTPException(404, f"no service {service_id!r} in run {run}")
        points = points[:upto + 1]
    return {"service": service_id, "history": points}
