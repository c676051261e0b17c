"""The web app: FastAPI serving server-rendered pages (Jinja2 + htmx) and a JSON API, over the
same app database as the CLI. A thin edge: every number on a page comes from the stored runs
and the core's functions; this layer only reads, checks who asks, and renders.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from functools import cache
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.middleware.sessions import SessionMiddleware
from starlette.types import ASGIApp

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
from dipstick.web.limits import Edge, FormGate
from dipstick.web.pulse_form import AnswerFastPath
from dipstick.web.runs import Jobs
from dipstick.web.templating import HERE, WebConfig, render, templates
from dipstick.web.views import portfolio

__all__ = ["WebConfig", "create_app", "render", "templates"]

SESSION_HOURS = 8
WARM_WAIT_S = 3600.0   # the start-up warm-up waits for a re-check however long it takes
log = logging.getLogger("dipstick.web")


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

    app = _App(title="dipstick", version=_version(), lifespan=lifespan,
               summary="The value leakage indicator for IT services: the JSON API.",
               docs_url=None, redoc_url=None, openapi_url=None)
    app.state.config = config
    app.state.throttle = Throttle()
    idp = oidc.oidc_config()   # DIPSTICK_OIDC_*: a half-done setting stops the start
    app.state.oidc = (idp, oidc.oidc_client(idp)) if idp is not None else None
    app.state.jobs = Jobs()
    # the request's limits before its body is read (dipstick.web.limits): the form gate
    # inside the sessions (it reads the session's form token), the fast path for a
    # respondent's answer outside them (issue 16, docs/pulse.md), the Edge around it all
    app.add_middleware(FormGate)
    app.add_middleware(SessionMiddleware, secret_key=secret, session_cookie="dipstick_session",
                       max_age=SESSION_HOURS * 3600, same_site="lax", https_only=config.https)
    app.add_middleware(AnswerFastPath)

    @app.exception_handler(LoginRequired)
    async def to_login(request: Request, _: LoginRequired) -> Response:
        if request.headers.get("hx-request"):
            return Response(status_code=401, headers={"HX-Redirect": "/login"})
        return RedirectResponse(f"/login?next={request.url.path}", status_code=303)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, e: HTTPException) -> Response:
        return _error(request, e.status_code, e.detail, e.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, e: RequestValidationError) -> Response:
        """A parameter out of range (an offset of 2**63, a limit of 0): 422 in the API's shape
        (``{"error", "detail"}``) or as a page — never an overflow further down."""
        return _error(request, 422, jsonable_encoder(e.errors()))

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


class _App(FastAPI):
    """The FastAPI app with :class:`~dipstick.web.limits.Edge` around Starlette's whole stack,
    its 500 handler included (middleware added the usual way sits inside that handler, so a
    500 would leave without the security headers)."""

    def build_middleware_stack(self) -> ASGIApp:
        return Edge(super().build_middleware_stack(), self.state.config)


def _error(request: Request, status: int, detail: Any,
           headers: Mapping[str, str] | None = None) -> Response:
    """An error in the caller's language: JSON for the API and scripts, a page for browsers."""
    if request.url.path.startswith("/api/") or "text/html" not in request.headers.get(
            "accept", ""):
        return JSONResponse({"error": status, "detail": detail}, status_code=status,
                            headers=headers)
    return render(request, "error.html.j2", None, status=status, code=status,
                  detail=detail if isinstance(detail, str) else _said(detail),
                  headers=dict(headers or {}))


def _said(errors: Any) -> str:
    """Validation errors as one line for a page: ``offset: Input should be ...``."""
    if not isinstance(errors, list):
        return str(errors)
    return "; ".join(f"{e.get('loc', ['?'])[-1]}: {e.get('msg', '')}" for e in errors
                     if isinstance(e, dict))


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
