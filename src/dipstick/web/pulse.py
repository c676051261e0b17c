"""Pulse checks on the web (issue 6): campaigns, results, overdue check-ins, and (from
:mod:`dipstick.web.pulse_form`) the public answer form. Thin routes over :mod:`dipstick.pulse`.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Path, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.datastructures import UploadFile

from dipstick.errors import PackageError, UsageError
from dipstick.findings import CommonSpec
from dipstick.indicators.registry import split_settings
from dipstick.model import ValueModel
from dipstick.pulse import campaigns as repo
from dipstick.pulse.invitees import parse_invitees
from dipstick.pulse.mail import link_url
from dipstick.pulse.overdue import Pair, checkins, overdue
from dipstick.pulse.results import campaign_results, export_csv
from dipstick.store import Store
from dipstick.store.users import Account
from dipstick.web import views
from dipstick.web.auth import READ_ALL, ApiUser, PageUser, check_csrf, store_of
from dipstick.web.context import Missing, RunContext, run_context
from dipstick.web.pulse_form import _wants_json
from dipstick.web.pulse_form import router as form_router
from dipstick.web.templating import base_url, render

router = APIRouter()

# a check-in's number: bounded so an absurd one is a 422, not a database overflow
CampaignId = Annotated[int, Path(ge=1, le=2**31 - 1, description="a check-in's number")]

MAX_LINKS = 1000


# --- who may act -----------------------------------------------------------------------------

def _model(store: Store) -> tuple[ValueModel, str]:
    """The value model of the latest stored run's package (cached by the run context)."""
    run = views.latest_run(store)
    if run is None:
        raise HTTPException(409, "no check has been stored yet: run one first")
    ctx = run_context(run["package"], date.fromisoformat(run["as_of"]), store, run["run_id"])
    if isinstance(ctx, Missing):
        raise HTTPException(409, ctx.reason)
    return ctx.model, run["package"]


def may_act(who: Account, owner: str | None) -> bool:
    """Admins act on every service, owners on the services they own."""
    return who.role == "admin" or (
        who.role == "owner" and owner is not None and owner.strip().lower() == who.email)


def _owner(model: ValueModel, service_id: str) -> str | None:
    try:
        return model.service(service_id).owner
    except KeyError:
        return None


def _require_act(who: Account, model: ValueModel, service_id: str) -> None:
    if not may_act(who, _owner(model, service_id)):
        raise HTTPException(403, f"only the owner of {service_id!r} or an admin may do this")


def _campaign(store: Store, campaign_id: int) -> repo.Campaign:
    try:
        return repo.get(store, campaign_id)
    except UsageError:
        raise HTTPException(404, f"no check-in {campaign_id}") from None


# --- summaries for other pages (the service page) ------------------------------------------

def service_campaigns(store: Store, service_id: str, who: Account,
                      owner: str | None) -> dict[str, Any]:
    """The service's check-ins and whether the caller may start one (service page)."""
    today = datetime.now(UTC).date()
    found = repo.campaigns(store, service_id)
    counts: dict[int, int] = {}
    for a in repo.answers(store, [c.id for c in found]) if found else []:
        counts[a.campaign_id] = counts.get(a.campaign_id, 0) + 1
    return {"may_start": may_act(who, owner), "campaigns": [
        {"id": c.id, "groups": list(c.groups), "source": c.source,
         "group_names": [c.group_name(g) for g in c.groups],
         "started": c.created_at.date().isoformat(),
         "closes_on": c.closes_on.isoformat() if c.closes_on else None,
         "open": c.is_open(today), "answers": counts.get(c.id, 0)} for c in found]}


# --- campaigns -------------------------------------------------------------------------------

def _list(store: Store) -> list[dict[str, Any]]:
    today = datetime.now(UTC).date()
    found = repo.campaigns(store)
    counts: dict[int, int] = {}
    for a in repo.answers(store, [c.id for c in found]) if found else []:
        counts[a.campaign_id] = counts.get(a.campaign_id, 0) + 1
    return [{"id": c.id, "service_id": c.service_id, "service_name": c.service_name,
             "groups": list(c.groups), "source": c.source,
             "group_names": [c.group_name(g) for g in c.groups],
             "started": c.created_at.date().isoformat(),
             "closes_on": c.closes_on.isoformat() if c.closes_on else None,
             "open": c.is_open(today), "answers": counts.get(c.id, 0)} for c in found]


@router.get("/pulse", response_class=HTMLResponse, include_in_schema=False)
def pulse_page(request: Request, who: PageUser) -> HTMLResponse:
    return render(request, "pulse.html.j2", who, campaigns=_list(store_of(request)))


@router.get("/api/pulse/campaigns", tags=["api"])
def campaigns_api(request: Request, who: ApiUser) -> dict[str, Any]:
    """Every check-in, newest first, with its answers so far."""
    return {"campaigns": _list(store_of(request))}


@router.post("/pulse/campaigns", response_model=None, include_in_schema=False)
def start(request: Request, who: PageUser,
          service_id: Annotated[str | None, Form()] = None,
          group: Annotated[list[str] | None, Form()] = None,
          open_days: Annotated[str | None, Form()] = None,
          csrf_token: Annotated[str | None, Form()] = None) -> Response:
    """Start a check-in (service page, overdue list): the service's owner or an admin."""
    check_csrf(request, csrf_token)     # the form token before anything else
    if not service_id:
        raise HTTPException(422, "service_id: which service to ask about")
    days = int(open_days) if open_days and open_days.isdigit() else 14
    if not 1 <= days <= 365:
        raise HTTPException(422, "open_days: 1 to 365")
    store = store_of(request)
    model, package = _model(store)
    if service_id not in {s.id for s in model.services}:
        raise HTTPException(404, f"no service {service_id!r}")
    _require_act(who, model, service_id)
    today = datetime.now(UTC).date()
    try:
        c = repo.start_campaign(store, model, service_id, [g for g in group or [] if g],
                                created_by=who.email, package=package,
                                closes_on=today + timedelta(days=days), today=today)
    except UsageError as e:
        raise HTTPException(422, str(e)) from None
    return RedirectResponse(f"/pulse/campaigns/{c.id}", status_code=303)


def _results(store: Store, c: repo.Campaign, who: Account) -> dict[str, Any]:
    return campaign_results(c, repo.answers(store, [c.id]), repo.invitation_counts(store, c.id),
                            comments=who.role != "viewer", today=datetime.now(UTC).date())


@router.get("/pulse/campaigns/{campaign_id}", response_class=HTMLResponse,
            include_in_schema=False)
def campaign_page(request: Request, campaign_id: CampaignId, who: PageUser) -> HTMLResponse:
    store = store_of(request)
    c = _campaign(store, campaign_id)
    try:
        acts = may_act(who, _owner(_model(store)[0], c.service_id))
    except HTTPException:      # no check stored yet: the results still show, links need one
        acts = False
    return render(request, "pulse_campaign.html.j2", who, doc=_results(store, c, who),
                  may_act=acts, links=None, problems=None)


@router.get("/api/pulse/campaigns/{campaign_id}", tags=["api"])
def campaign_api(request: Request, campaign_id: CampaignId, who: ApiUser) -> dict[str, Any]:
    """A check-in's results: response rate, score per group and dimension, promoters −
    detractors, comments (not for viewers); groups under 5 answers hidden."""
    store = store_of(request)
    return _results(store, _campaign(store, campaign_id), who)


@router.get("/pulse/campaigns/{campaign_id}/export.csv", include_in_schema=False)
def export(request: Request, campaign_id: CampaignId, who: PageUser) -> Response:
    """The answers as a surveys-table CSV (comments only for roles that may read them)."""
    store = store_of(request)
    c = _campaign(store, campaign_id)
    text = export_csv(c, repo.answers(store, [c.id]), comments=who.role in READ_ALL)
    return Response(text, media_type="text/csv",
                    headers={"Content-Disposition":
                             f'attachment; filename="checkin-{c.id}.csv"'})


@router.post("/pulse/campaigns/{campaign_id}/links", response_model=None,
             include_in_schema=False)
async def make_links(request: Request, campaign_id: str, who: PageUser) -> Response:
    """Links to hand out: N anonymous single-use ones, the open link, or one per invitee of
    an uploaded CSV (email, group). Shown once: only their hashes are kept."""
    form = await request.form()
    token = form.get("csrf_token")
    check_csrf(request, token if isinstance(token, str) else None)   # before anything else
    if not campaign_id.isdigit() or not 1 <= int(campaign_id[:10]) < 2**31:
        raise HTTPException(404, f"no check-in {campaign_id[:20]!r}")
    store = store_of(request)
    c = await run_in_threadpool(_campaign, store, int(campaign_id))
    model, _ = await run_in_threadpool(_model, store)
    _require_act(who, model, c.service_id)
    kind = str(form.get("kind") or "")
    group = str(form.get("group") or c.groups[0])
    base = base_url(request)
    problems: list[dict[str, Any]] | None = None
    made: list[repo.Link] = []
    try:
        if not c.is_open(datetime.now(UTC).date()):
            raise UsageError(f"check-in {c.id} has closed")
        if kind == "open":
            made = [await run_in_threadpool(repo.open_link, store, c, group)]
        elif kind == "invitees":
            upload = form.get("invitees")
            if not isinstance(upload, UploadFile):
                raise UsageError("choose a CSV file of invitees (email, group)")
            raw = await upload.read(2_000_001)
            if len(raw) > 2_000_000:
                raise UsageError("the invitee file is larger than 2 MB")
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise UsageError(f"{upload.filename}: is not UTF-8 text") from None
            listed = parse_invitees(text, c.groups, upload.filename or "invitees.csv")
            made = await run_in_threadpool(repo.add_invitations, store, c, listed)
        else:
            try:
                count = int(str(form.get("count") or "0"))
            except ValueError:
                raise UsageError("count: a whole number of links, 1 to 1,000") from None
            if not 1 <= count <= MAX_LINKS:
                raise UsageError("count: a whole number of links, 1 to 1,000")
            made = await run_in_threadpool(repo.add_invitations, store, c,
                                           [(None, group)] * count)
    except PackageError as e:
        problems = [p.as_dict() for p in e.problems]
    except UsageError as e:
        problems = [{"file": None, "row": None, "field": None, "value": None,
                     "message": str(e)}]
    if problems is not None:
        if _wants_json(request):
            return JSONResponse({"error": 422, "detail": "nothing was created",
                                 "problems": problems}, status_code=422)
        doc = await run_in_threadpool(_results, store, c, who)
        return render(request, "pulse_campaign.html.j2", who, status=422, doc=doc,
                      may_act=True, links=None, problems=problems)
    links = [{"email": x.email, "group": x.group, "url": link_url(base, x.token),
              "open": kind == "open"} for x in made]
    if _wants_json(request):
        return JSONResponse({"links": links})
    doc = await run_in_threadpool(_results, store, c, who)
    return render(request, "pulse_campaign.html.j2", who, doc=doc, may_act=True, links=links,
                  problems=None, headers={"Cache-Control": "no-store"})


# --- overdue check-ins -----------------------------------------------------------------------

def overdue_view(store: Store, who: Account | None) -> dict[str, Any]:
    """Pairs not asked for longer than checkin_max_age_days, with who may start a check-in."""
    run = views.latest_run(store)
    if run is None:
        return {"available": False, "reason": "no check has been stored yet", "pairs": []}
    ctx = run_context(run["package"], date.fromisoformat(run["as_of"]), store, run["run_id"])
    if isinstance(ctx, Missing):
        return {"available": False, "reason": ctx.reason, "pairs": []}
    today = datetime.now(UTC).date()
    max_age = split_settings(ctx.model.settings, CommonSpec).checkin_max_age_days
    late = overdue(checkins(ctx.model, _surveyed(ctx),
                            repo.last_asked(store, ctx.model.organisation.name), today),
                   max_age)
    return {"available": True, "reason": None, "max_age_days": max_age,
            "as_of": today.isoformat(), "check_as_of": run["as_of"],
            "rule": f"not asked for more than {max_age} days (checkin_max_age_days); last "
                    "asked = the latest survey answer or check-in started for the pair",
            "pairs": [_pair(p, who) for p in late]}


def _surveyed(ctx: RunContext) -> dict[tuple[str, str], date]:
    return {(sid, k.group): k.last for sid, s in ctx.surveys.items() for k in s.checkins
            if k.last is not None}


def _pair(p: Pair, who: Account | None) -> dict[str, Any]:
    return {"service_id": p.service_id, "service_name": p.service_name, "owner": p.owner,
            "group": p.group, "group_name": p.group_name,
            "last_asked": p.last_asked.isoformat() if p.last_asked else None, "days": p.days,
            "may_start": who is not None and may_act(who, p.owner)}


@router.get("/pulse/overdue", response_class=HTMLResponse, include_in_schema=False)
def overdue_page(request: Request, who: PageUser) -> HTMLResponse:
    return render(request, "pulse_overdue.html.j2", who,
                  view=overdue_view(store_of(request), who))


@router.get("/api/pulse/overdue", tags=["api"])
def overdue_api(request: Request, who: ApiUser) -> dict[str, Any]:
    """Service × consuming group pairs not asked for longer than checkin_max_age_days."""
    return overdue_view(store_of(request), who)


router.include_router(form_router)      # the public form, /p/{token}: its own module
