"""The web app: FastAPI serving server-rendered pages (Jinja2 + htmx) and a JSON API, over the
same app database as the CLI. A thin edge: every number on a page comes from the stored runs
and the core's functions; this layer only reads, checks who asks, and renders.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import cache
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.middleware.sessions import SessionMiddleware

from dipstick.settings import secret_key, secret_key_is_set
from dipstick.store import Store
from dipstick.web import (
    actions,
    api,
    audit,
    maps,
    oidc,
    pages,
    pulse,
    runs,
    selfassess,
    service,
    users,
    valuemap,
)
from dipstick.web.auth import ApiUser, LoginRequired, Throttle
from dipstick.web.pulse_form import AnswerFastPath
from dipstick.web.runs import Jobs
from dipstick.web.templating import HERE, WebConfig, render, templates
from dipstick.web.views import portfolio

__all__ = ["WebConfig", "create_app", "render", "templates"]

SESSION_HOURS = 8
WARM_WAIT_S = 3600.0   # the start-up warm-up waits for a re-check however long it takes
log = logging.getLogger("dipstick.web")

# No inline scripts, no other origins: the pages' JavaScript is htmx, plotly.js and app.js,
# all served from /static; figures travel as JSON islands (not executed).
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
       "img-src 'self' data:; font-src 'self' data:; object-src 'none'; base-uri 'self'; "
       "form-action 'self'; frame-ancestors 'none'")


@cache
def _plotlyjs() -> bytes:
    from plotly.offline import get_plotlyjs

    js: str = get_plotlyjs()
    return js.encode()


def create_app(config: WebConfig | None = None) -> FastAPI:
    config = config or WebConfig()
    secret = config.secret_key or secret_key()
    if not config.secret_key and not secret_key_is_set():
        log.warning("DIPSTICK_SECRET_KEY is not set: sessions end when the server stops")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = Store.open(config.database)
        store.migrate()
        app.state.store = store
        threading.Thread(target=_warm, args=(store,), daemon=True).start()
        try:
            yield
        finally:
            app.state.jobs.shutdown()
            store.close()

    app = FastAPI(title="dipstick", version=_version(), lifespan=lifespan,
                  summary="The value leakage indicator for IT services: the JSON API.",
                  docs_url=None, redoc_url=None, openapi_url=None)
    app.state.config = config
    app.state.throttle = Throttle()
    idp = oidc.oidc_config()   # DIPSTICK_OIDC_*: a half-done setting stops the start
    app.state.oidc = (idp, oidc.oidc_client(idp)) if idp is not None else None
    app.state.jobs = Jobs()
    app.add_middleware(SessionMiddleware, secret_key=secret, session_cookie="dipstick_session",
                       max_age=SESSION_HOURS * 3600, same_site="lax", https_only=config.https)

    security = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin",
                "Content-Security-Policy": CSP}

    @app.middleware("http")
    async def headers(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        for name, value in security.items():
            response.headers.setdefault(name, value)
        return response

    # outermost: a respondent's answer skips the pages' stack (issue 16, docs/pulse.md)
    app.add_middleware(AnswerFastPath, headers=security)

    @app.exception_handler(LoginRequired)
    async def to_login(request: Request, _: LoginRequired) -> Response:
        if request.headers.get("hx-request"):
            return Response(status_code=401, headers={"HX-Redirect": "/login"})
        return RedirectResponse(f"/login?next={request.url.path}", status_code=303)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, e: HTTPException) -> Response:
        if request.url.path.startswith("/api/") or "text/html" not in request.headers.get(
                "accept", ""):
            return JSONResponse({"error": e.status_code, "detail": e.detail},
                                status_code=e.status_code, headers=e.headers)
        return render(request, "error.html.j2", None, status=e.status_code, code=e.status_code,
                      detail=e.detail)

    @app.get("/api/openapi.json", include_in_schema=False)
    def openapi(_: ApiUser) -> dict[str, Any]:
        """The API's OpenAPI schema — for signed-in users and tokens only, like every endpoint
        (FastAPI's own schema and Swagger routes are public and load Swagger from a CDN)."""
        return app.openapi()

    @app.get("/static/plotly.min.js", include_in_schema=False)
    def plotlyjs() -> Response:
        return Response(_plotlyjs(), media_type="text/javascript",
                        headers={"Cache-Control": "public, max-age=86400"})

    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    # the routes, one module per page or concept, registered on this app
    for module in (pages, api, service, selfassess, actions, valuemap, maps, runs, pulse, users,
                   oidc, audit):
        app.include_router(module.router)
    return app


def _warm(store: Store) -> None:
    """Build the portfolio in the background at start-up — the latest run and the one
    before, its context (stored with it; a re-check of the package for a run stored before
    migration 0011) and the heatmap — so the first person to open a page does not wait."""
    try:
        portfolio(store, model_wait=WARM_WAIT_S, figure=True)
    except Exception:   # a failed warm-up only costs the first visitor the wait
        log.exception("warming the latest run's pages failed")


def _version() -> str:
    from importlib.metadata import version

    return version("dipstick")
