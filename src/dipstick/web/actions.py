"""Actions on the web (issue 15): the service page's actions panel, the portfolio ledger and
the ``/api/actions`` and ``/api/ledger`` endpoints.

Thin routes over :mod:`dipstick.store.actions`; the rules are :mod:`dipstick.actions`'. Who
may act: the service's owner (by e-mail), leaders and admins (:func:`may_act`); everyone
signed in reads. Forms carry the session's CSRF token; the API takes a bearer token, or a
session with the page's token in ``X-CSRF-Token``. Bad input is a 422 (JSON on the API) naming
what is wrong; nothing is changed.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import BaseModel, Field

from dipstick.actions import OPEN, STATUSES, TRANSITIONS
from dipstick.actions.ledger import FORMULAS
from dipstick.actions.recovery import FORMULA
from dipstick.errors import UsageError
from dipstick.store import Store
from dipstick.store.actions import (
    create_action,
    get_action,
    ledger,
    list_actions,
    update_action,
)
from dipstick.store.users import Account
from dipstick.web import views
from dipstick.web.audit import actor_of
from dipstick.web.auth import ApiUser, CsrfForm, PageUser, check_csrf, may_self_assess, store_of
from dipstick.web.templating import render

router = APIRouter()
Text = Annotated[str | None, Form(max_length=500)]
# an action's id: bounded so an absurd one is a 422, not a database overflow
ActionId = Annotated[int, PathParam(ge=1, le=2**31 - 1, description="an action's id")]


def may_act(who: Account, owner: str | None) -> bool:
    """The self-assessment's rule (docs/web.md): leaders and admins on every service, an owner
    on the services they own."""
    return may_self_assess(who, owner)


def _owner_now(store: Store, service_id: str) -> str | None:
    """The service's owner in the latest check (an action outlives the run it began in)."""
    run = views.latest_run(store)
    found = next((s for s in (run or {}).get("services", []) if s["id"] == service_id), None)
    return found["owner"] if found else None


def _require(who: Account, store: Store, service_id: str) -> None:
    if not may_act(who, _owner_now(store, service_id)):
        raise HTTPException(403, f"only the owner of {service_id!r}, a leader or an admin may "
                                 "act on its leaks")


def _usage(e: UsageError) -> HTTPException:
    message = str(e)
    return HTTPException(404 if message.startswith("no action") else 422, message)


def panel(store: Store, run: dict[str, Any], service: dict[str, Any],
          who: Account) -> dict[str, Any]:
    """The service page's actions: every action on the service (newest first) and its root
    leaks in this run (a stored run's document and its service) without an open action."""
    sid = service["id"]
    actions = list_actions(store, organisation=run["organisation"], service_id=sid,
                           history=True)
    taken = {a["cause"] for a in actions if a["status"] in OPEN}
    leaks = [{"cause": c, "money": v["leak_per_month"]["money"],
              "low": v["leak_per_month"]["low"], "high": v["leak_per_month"]["high"],
              "since": v["since"]}
             for c, v in service["causes"].items()
             if v["status"] == "leak" and not v.get("symptom_of") and c not in taken]
    for a in actions:
        a["next"] = sorted(TRANSITIONS[a["status"]], key=STATUSES.index)
    return {"actions": actions, "leaks": sorted(leaks, key=lambda x: -x["money"]),
            "may_act": may_act(who, service["owner"]), "owner": service["owner"],
            "latest": run.get("run_id") == (views.latest_run(store) or {}).get("run_id"),
            "recovery_formula": FORMULA}


def _day(value: str | None, what: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise HTTPException(422, f"{what} must be a date (YYYY-MM-DD), not {value!r}") from None


def _back(service_id: str) -> RedirectResponse:
    return RedirectResponse(f"/services/{quote(service_id, safe='')}#actions", status_code=303)


# --- pages -----------------------------------------------------------------------------------

@router.post("/services/{service_id}/actions", include_in_schema=False)
def add_page(request: Request, service_id: str, who: PageUser, _: CsrfForm,
             cause: Text = None, owner: Text = None, due: Text = None,
             note: Text = None) -> RedirectResponse:
    store = store_of(request)
    _require(who, store, service_id)   # who may act before what is wrong with the form
    if not cause:
        raise HTTPException(422, "name the leak's cause")
    try:
        create_action(store, service_id, cause, who.email, owner=owner,
                      due=_day(due, "due"), note=note, actor=actor_of(request, who))
    except UsageError as e:
        raise _usage(e) from None
    return _back(service_id)


@router.post("/actions/{action_id}", include_in_schema=False)
def set_page(request: Request, action_id: ActionId, who: PageUser, _: CsrfForm,
             status: Text = None, on: Text = None, reason: Text = None, owner: Text = None,
             due: Text = None, note: Text = None) -> RedirectResponse:
    store = store_of(request)
    try:
        current = get_action(store, action_id)
        _require(who, store, current["service_id"])
        update_action(store, action_id, who.email, status=status or None,
                      on=_day(on, "date"), owner=owner or None, due=_day(due, "due"),
                      reason=reason, note=note, actor=actor_of(request, who))
    except UsageError as e:
        raise _usage(e) from None
    return _back(current["service_id"])


@router.get("/ledger", response_class=HTMLResponse, include_in_schema=False)
def ledger_page(request: Request, who: PageUser) -> HTMLResponse:
    store = store_of(request)
    doc = ledger(store)
    actions = (list_actions(store, organisation=doc["organisation"])
               if doc["organisation"] else [])
    return render(request, "ledger.html.j2", who, ledger=doc, actions=actions,
                  recovery_formula=FORMULA)


# --- the API ---------------------------------------------------------------------------------

def _api_write(request: Request, who: ApiUser) -> Account:
    """A token, or a session with the page's form token in ``X-CSRF-Token``: a dependency, so
    it is checked before the body is read (a forged request gets 403, not 422)."""
    if not request.headers.get("authorization", "").lower().startswith("bearer "):
        check_csrf(request, request.headers.get("x-csrf-token"))
    return who


ApiWriter = Annotated[Account, Depends(_api_write)]


class NewAction(BaseModel):
    service_id: str = Field(max_length=200)
    cause: str = Field(max_length=50)
    owner: str | None = Field(None, max_length=500, description="default: the service's owner")
    due: date | None = None
    note: str | None = Field(None, max_length=500)
    run_id: int | None = Field(None, ge=1, le=2**31 - 1,
                               description="the run the leak is read from (default: latest)")


class ActionChangeBody(BaseModel):
    status: str | None = Field(None, description="proposed, in progress, done or dismissed")
    on: date | None = Field(None, description="the done or dismissal date (default: today)")
    reason: str | None = Field(None, max_length=500, description="why dismissed (required)")
    owner: str | None = Field(None, max_length=500)
    due: date | None = None
    note: str | None = Field(None, max_length=500)


@router.get("/api/actions", tags=["api"])
def list_api(request: Request, who: ApiUser,
             service: Annotated[str | None, Query(max_length=200)] = None,
             status: Annotated[str | None, Query(max_length=20)] = None) -> dict[str, Any]:
    """Every action, newest first (optionally one service or status), each with its expected
    saving and, when done, what it recovered (``recovery``, with its formula)."""
    if status is not None and status not in STATUSES:
        raise HTTPException(422, f"status must be one of {', '.join(STATUSES)}")
    return {"actions": list_actions(store_of(request), service_id=service, status=status)}


@router.get("/api/actions/{action_id}", tags=["api"])
def get_api(request: Request, who: ApiUser, action_id: ActionId) -> dict[str, Any]:
    """One action with its history (who, when, what changed)."""
    try:
        return get_action(store_of(request), action_id)
    except UsageError as e:
        raise _usage(e) from None


@router.post("/api/actions", tags=["api"], status_code=201)
def add_api(request: Request, who: ApiWriter, body: NewAction) -> dict[str, Any]:
    """Give a leak (a service's root cause at leak) an action, status proposed."""
    store = store_of(request)
    _require(who, store, body.service_id)
    try:
        return create_action(store, body.service_id, body.cause, who.email, owner=body.owner,
                             due=body.due, note=body.note, run_id=body.run_id,
                             actor=actor_of(request, who))
    except UsageError as e:
        raise _usage(e) from None


@router.patch("/api/actions/{action_id}", tags=["api"])
def set_api(request: Request, who: ApiWriter, action_id: ActionId,
            body: ActionChangeBody) -> dict[str, Any]:
    """Change an action's status, owner, due date or note (kept in its history)."""
    store = store_of(request)
    try:
        _require(who, store, get_action(store, action_id)["service_id"])
        return update_action(store, action_id, who.email, status=body.status, on=body.on,
                             owner=body.owner, due=body.due, reason=body.reason,
                             note=body.note, actor=actor_of(request, who))
    except UsageError as e:
        raise _usage(e) from None


@router.get("/api/ledger", tags=["api"])
def ledger_api(request: Request, who: ApiUser) -> dict[str, Any]:
    """Per stored run of the latest run's organisation: value at risk, value recovered (with
    its range) and open actions, oldest first, with the formulas."""
    return ledger(store_of(request)) | {"formulas": FORMULAS}
