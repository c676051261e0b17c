"""The HTML pages. Each route reads its data from :mod:`dipstick.web.views` and renders it."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup

from dipstick.store.audit_log import record_alone
from dipstick.store.users import authenticate, end_session, start_session
from dipstick.web import views
from dipstick.web.api import Limit, Offset, PortfolioFilters
from dipstick.web.audit import actor_of
from dipstick.web.auth import PageUser, check_csrf, store_of
from dipstick.web.templating import render, templates

router = APIRouter(include_in_schema=False)


def _safe_next(target: str | None) -> str:
    """Only paths on this site: a login link must not send people elsewhere."""
    return target if target and target.startswith("/") and not target.startswith("//") else "/"


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str | None = None) -> HTMLResponse:
    return render(request, "login.html.j2", None, next=_safe_next(next), error=None)


@router.post("/login", response_model=None)
def login(request: Request, email: Annotated[str, Form()], password: Annotated[str, Form()],
          csrf_token: Annotated[str | None, Form()] = None,
          next: Annotated[str | None, Form()] = None) -> Response:
    check_csrf(request, csrf_token)
    throttle = request.app.state.throttle
    keys = (f"ip:{request.client.host if request.client else '?'}",
            f"email:{email.strip().lower()}")
    wait = throttle.retry_after(*keys)
    if wait:
        return render(request, "login.html.j2", None, status=429, next=_safe_next(next),
                      error=f"Too many failed attempts. Try again in {wait // 60 + 1} min.",
                      headers={"Retry-After": str(wait)})
    who = authenticate(store_of(request), email, password)
    if who is None:
        throttle.fail(*keys)
        record_alone(store_of(request), actor_of(request, email.strip().lower()),
                     "sign-in.failed", email.strip().lower())
        return render(request, "login.html.j2", None, status=401, next=_safe_next(next),
                      error="Wrong e-mail or password.")
    throttle.clear(*keys)
    request.session.clear()   # a fresh session at sign-in: no fixation
    request.session["sid"] = start_session(store_of(request), who.id, actor_of(request, who))
    return RedirectResponse(_safe_next(next), status_code=303)


@router.post("/logout", response_model=None)
def logout(request: Request, csrf_token: Annotated[str | None, Form()] = None) -> Response:
    check_csrf(request, csrf_token)
    sid = request.session.get("sid")
    if isinstance(sid, str):
        end_session(store_of(request), sid)   # every copy of the cookie ends with it
    request.session.clear()
    return RedirectResponse("/login", status_code=303)


@router.get("/", response_class=HTMLResponse)
def portfolio(request: Request, who: PageUser, filters: PortfolioFilters,
              limit: Limit = views.DEFAULT_LIMIT, offset: Offset = 0) -> HTMLResponse:
    """The portfolio; only its results (``_portfolio_table``) when htmx asks after a filter
    change, so the form keeps its focus and the page its scroll."""
    key, view = views.portfolio_keyed(store_of(request), filters, limit, offset, figure=True)
    links = _page_links(view, filters)
    # the results, and the page around them but for the header (the user, the form token),
    # depend on the view alone: drawn once per view (its key has the filters), not per request
    # (2,000 services: ~50 ms a request, most of it)
    table = views.cached(key and (key, "table"), lambda: _draw(
        "_portfolio_table.html.j2", view=view, pages=links))
    headers = {"Vary": "HX-Request"}
    partial = bool(request.headers.get("hx-request")) and not request.headers.get(
        "hx-history-restore-request")
    if partial:   # the address bar shows the filters in use, not every empty field
        headers["HX-Push-Url"] = links["this"] or "/"
        return HTMLResponse(table, headers=headers)
    main = views.cached(key and (key, "main"), lambda: _draw(
        "_portfolio_main.html.j2", view=view, pages=links, asked=filters, table=table))
    return render(request, "portfolio.html.j2", who, headers=headers, figures=True, main=main)


def _draw(template: str, **context: Any) -> Markup:
    return Markup(templates().env.get_template(template).render(**context))


def _page_links(view: dict[str, Any], filters: views.Filters) -> dict[str, str | None]:
    """This page's, the previous and the next page's URLs, keeping the filters as asked."""
    keep = filters.active()
    if view["limit"] != views.DEFAULT_LIMIT:
        keep["limit"] = str(view["limit"])

    def at(offset: int) -> str:
        query = keep | ({"offset": str(offset)} if offset else {})
        return "/?" + urlencode(query) if query else "/"

    limit, offset, total = view["limit"], view["offset"], view["total"]
    return {"this": at(offset),
            "previous": at(max(0, offset - limit)) if offset > 0 else None,
            "next": at(offset + limit) if offset + limit < total else None}
