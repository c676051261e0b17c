"""Pulse checks on the web (issue 6): campaigns, the public answer form, results, overdue
check-ins. Thin routes over :mod:`dipstick.pulse`.

The form (``/p/{token}``) is the one page reachable without an account. Its security model
(docs/pulse.md): the token in the URL is a 256-bit secret, so only who holds the link can
answer; each form carries a nonce (an HMAC of the link and the time it was served, and for an
open link of the browser's SameSite=Strict cookie), so a post must come from a form this server
rendered; failures are rate limited per link and per client address; an unknown and a closed
link get the same 404; a used link gets 409 and changes nothing; the answer is committed
before the 200 is sent.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
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
from dipstick.pulse.form import MAX_COMMENT, AnswerError, parse_answer
from dipstick.pulse.invitees import parse_invitees
from dipstick.pulse.mail import link_url
from dipstick.pulse.overdue import Pair, checkins, overdue
from dipstick.pulse.results import campaign_results, export_csv
from dipstick.pulse.tokens import digest, make_nonce, nonce_ok
from dipstick.settings import secret_key
from dipstick.store import Store
from dipstick.store.users import Account
from dipstick.web import views
from dipstick.web.auth import READ_ALL, ApiUser, PageUser, Throttle, check_csrf, store_of
from dipstick.web.context import Missing, RunContext, run_context
from dipstick.web.templating import render, templates

router = APIRouter()

# a check-in's number: bounded so an absurd one is a 422, not a database overflow
CampaignId = Annotated[int, Path(ge=1, le=2**31 - 1, description="a check-in's number")]

BROWSER_COOKIE = "dipstick_pulse_browser"
FAILURES = {"token": 10, "ip": 60}     # failed posts / unknown links per 15 minutes
MAX_LINKS = 1000
_key_lock = threading.Lock()


# --- who may act -----------------------------------------------------------------------------

def _model(store: Store) -> tuple[ValueModel, str]:
    """The value model of the latest stored run's package (cached by the run context)."""
    run = views.latest_run(store)
    if run is None:
        raise HTTPException(409, "no check has been stored yet: run one first")
    ctx = run_context(run["package"], date.fromisoformat(run["as_of"]))
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


def _wants_json(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


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
    base = str(request.base_url).rstrip("/")
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
    ctx = run_context(run["package"], date.fromisoformat(run["as_of"]))
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


# --- the public form -------------------------------------------------------------------------

def _key(request: Request) -> bytes:
    return str(request.app.state.config.secret_key or secret_key()).encode()


def _throttle(request: Request) -> Throttle:
    with _key_lock:
        found = getattr(request.app.state, "pulse_throttle", None)
        if found is None:
            found = request.app.state.pulse_throttle = Throttle(dict(FAILURES), window=900.0)
        return found


def _keys(request: Request, token: str) -> tuple[str, str]:
    host = request.client.host if request.client else "?"
    return f"ip:{host}", f"token:{digest(token)[:24]}"


def _public(request: Request, template: str, status: int = 200,
            headers: dict[str, str] | None = None, **context: Any) -> HTMLResponse:
    """A public page: no session, so a respondent gets no cookie but the open link's."""
    return templates().TemplateResponse(request, template, context, status_code=status,
                                        headers=headers)


def _gone(request: Request, status: int = 404) -> Response:
    """The one answer for an unknown, mistyped or closed link: same body, whichever it was."""
    if _wants_json(request):
        return JSONResponse({"error": 404, "detail": "this link does not open a check-in"},
                            status_code=404)
    return _public(request, "pulse_message.html.j2", status=status,
                  title="This link does not work",
                  text="It may be mistyped, or the check-in has closed. Nothing was stored.")


def _used(request: Request) -> Response:
    if _wants_json(request):
        return JSONResponse({"error": 409, "detail": "this link has been used: an answer was "
                             "stored already, nothing changed"}, status_code=409)
    return _public(request, "pulse_message.html.j2", status=409,
                  title="This link has been used",
                  text="An answer was stored with it already; nothing changed. Thank you!")


def _limited(request: Request, wait: int) -> Response:
    headers = {"Retry-After": str(wait)}
    if _wants_json(request):
        return JSONResponse({"error": 429, "detail": f"too many failed attempts: try again in "
                             f"{wait} s"}, status_code=429, headers=headers)
    return _public(request, "pulse_message.html.j2", status=429, headers=headers,
                  title="Too many attempts",
                  text=f"Try again in {wait // 60 + 1} minute(s).")


def _nonce_parts(target: repo.Target, token: str, browser: str | None) -> tuple[str, ...]:
    return (digest(token),) if target.invitation_id is not None else (
        digest(token), browser or "")


def _form(request: Request, target: repo.Target, token: str, nonce: str, status: int = 200,
          problems: list[tuple[str, str]] | None = None,
          given: dict[str, str] | None = None, cookie: str | None = None) -> Response:
    c = target.campaign
    q = c.questions[target.group]
    response = _public(request, "pulse_form.html.j2", status=status,
                      service=c.service_name, group=q["name"], dimensions=q["dimensions"],
                      token=token, nonce=nonce, problems=problems or [],
                      bad={f for f, _ in problems or []}, given=given or {},
                      closes_on=c.closes_on, max_comment=MAX_COMMENT,
                      headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})
    if cookie is not None:
        response.set_cookie(BROWSER_COOKIE, cookie, max_age=400 * 86400, httponly=True,
                            samesite="strict", secure=request.app.state.config.https,
                            path="/p/")
    return response


@router.get("/p/{token}", response_class=HTMLResponse, include_in_schema=False)
def answer_form(request: Request, token: str) -> Response:
    """The check-in form of a link (no account needed)."""
    throttle = _throttle(request)
    keys = _keys(request, token)
    wait = throttle.retry_after(*keys)
    if wait:
        return _limited(request, wait)
    store = store_of(request)
    today = datetime.now(UTC).date()
    target = repo.lookup(store, token, today) if len(token) <= 100 else None
    if target is None:
        throttle.fail(*keys)
        return _gone(request)
    browser = request.cookies.get(BROWSER_COOKIE)
    new_cookie = None
    if target.invitation_id is None:
        if browser and repo.browser_answered(store, target.campaign.id, browser):
            return _used(request)
        if not browser or len(browser) > 100:
            browser = new_cookie = secrets.token_urlsafe(32)
    elif target.answered:
        return _used(request)
    nonce = make_nonce(_key(request), *_nonce_parts(target, token, browser))
    return _form(request, target, token, nonce, cookie=new_cookie)


@router.post("/p/{token}", response_model=None, include_in_schema=False)
async def answer(request: Request, token: str) -> Response:
    """Store an answer, then say thank you. 404 unknown or closed link, 409 used, 422 a bad
    answer (nothing stored), 403 a form this server did not serve, 429 too many failures."""
    throttle = _throttle(request)
    keys = _keys(request, token)
    wait = throttle.retry_after(*keys)
    if wait:
        return _limited(request, wait)
    form = await request.form()
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    browser = request.cookies.get(BROWSER_COOKIE)
    # The form's nonce first, like the CSRF token of every other form: a post this server
    # did not serve the form for is refused (403) whether or not the link exists.
    nonce, h = fields.get("nonce"), digest(token)
    if not (nonce_ok(_key(request), nonce, h) or nonce_ok(_key(request), nonce, h, browser or "")):
        throttle.fail(*keys)
        raise HTTPException(403, "the form has expired or did not come from this site: open "
                                 "the link again")
    store = store_of(request)
    today = datetime.now(UTC).date()
    target = await run_in_threadpool(repo.lookup, store, token, today) \
        if len(token) <= 100 else None
    if target is None:
        throttle.fail(*keys)
        return _gone(request)
    if target.answered:
        throttle.fail(*keys)
        return _used(request)
    if not nonce_ok(_key(request), nonce, *_nonce_parts(target, token, browser)) or (
            target.invitation_id is None and not browser):
        throttle.fail(*keys)        # an open link's nonce is bound to the browser's cookie
        raise HTTPException(403, "the form has expired or did not come from this site (or "
                                 "its cookie is missing): open the link again")
    try:
        parsed = parse_answer(target.campaign.questions, target.group, fields)
    except AnswerError as e:
        throttle.fail(*keys)
        if _wants_json(request):
            return JSONResponse({"error": 422, "detail": "the answer was not stored",
                                 "problems": [{"field": f, "message": m}
                                              for f, m in e.problems]}, status_code=422)
        return _form(request, target, token, fields.get("nonce", ""), status=422,
                     problems=e.problems, given=fields)
    # committed (with the other answers of its group commit) before anything is sent
    outcome = await asyncio.wrap_future(repo.submit_later(store, target, parsed, today, browser))
    if outcome != "stored":
        throttle.fail(*keys)
        return _used(request)
    if _wants_json(request):
        return JSONResponse({"stored": True})
    return _public(request, "pulse_thanks.html.j2", service=target.campaign.service_name,
                  group=target.campaign.group_name(target.group),
                  headers={"Cache-Control": "no-store"})
