"""The admin's page for users (``/users``): who may sign in, with which role, and their API
tokens — and the buttons that end access (disable, revoke) or change it (enable, role).

Admins only (403 for the others, before a form is read); every form carries the session's
CSRF token. The changes go through :mod:`dipstick.store.users`, the same functions as
``dipstick users …``, with the admin's e-mail as who made them. An admin cannot disable
themselves or take away their own admin role: the last admin must not lock everyone out.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, TypeVar

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from dipstick.errors import UsageError
from dipstick.rolemap import ROLES
from dipstick.store.users import Account, revoke_token, set_active, set_role, tokens, users
from dipstick.web.audit import actor_of
from dipstick.web.auth import CsrfForm, store_of
from dipstick.web.runs import PageAdmin
from dipstick.web.templating import render

router = APIRouter(include_in_schema=False)
T = TypeVar("T")


@router.get("/users", response_class=HTMLResponse)
def users_page(request: Request, who: PageAdmin) -> HTMLResponse:
    store = store_of(request)
    return render(request, "users.html.j2", who, users=users(store), tokens=tokens(store),
                  roles=ROLES)


def _done(change: Callable[[], T]) -> RedirectResponse:
    """Apply the change; a bad e-mail, role or token id is a 400 naming it (no traceback)."""
    try:
        change()
    except UsageError as e:
        raise HTTPException(400, str(e)) from None
    return RedirectResponse("/users", status_code=303)


def _not_self(who: Account, email: str, what: str) -> None:
    if email.strip().lower() == who.email:
        raise HTTPException(409, f"you cannot {what} yourself: ask another admin")


@router.post("/users/disable", response_model=None)
def disable(request: Request, who: PageAdmin, _: CsrfForm,
            email: Annotated[str, Form()]) -> RedirectResponse:
    _not_self(who, email, "disable")
    return _done(lambda: set_active(store_of(request), email, False,
                                    actor_of(request, who)))


@router.post("/users/enable", response_model=None)
def enable(request: Request, who: PageAdmin, _: CsrfForm,
           email: Annotated[str, Form()]) -> RedirectResponse:
    return _done(lambda: set_active(store_of(request), email, True,
                                    actor_of(request, who)))


@router.post("/users/role", response_model=None)
def change_role(request: Request, who: PageAdmin, _: CsrfForm, email: Annotated[str, Form()],
                role: Annotated[str, Form()]) -> RedirectResponse:
    if role != "admin":
        _not_self(who, email, "take the admin role from")
    return _done(lambda: set_role(store_of(request), email, role, actor=actor_of(request, who)))


@router.post("/users/tokens/revoke", response_model=None)
def revoke(request: Request, who: PageAdmin, _: CsrfForm,
           token_id: Annotated[int, Form()]) -> RedirectResponse:
    return _done(lambda: revoke_token(store_of(request), token_id, actor=actor_of(request, who)))
