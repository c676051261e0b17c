"""Limits before work (issue 17): what the app checks before it reads a request's body, and
the headers every response carries.

Why pure ASGI middleware: FastAPI reads a route's form or JSON body *before* it solves the
route's dependencies (who is asking, the form token), and Starlette's ``request.body()`` reads
whatever length a chunked request sends. So the bounds must sit below the routes:

* :class:`Edge`, outermost (around Starlette's own 500 handler), bounds each request's body
  while it streams in — a declared ``Content-Length`` over the route's limit is refused at
  once, a chunked body as soon as it passes the limit (413) — and stamps the security headers
  on every response, a 500 included;
* :class:`FormGate`, inside the session middleware, refuses a browser's post (no bearer
  token) whose session holds no form token, or that sends a token ahead of its body
  (``X-CSRF-Token`` header, ``csrf_token`` query parameter) that is not the session's — before
  a byte of the body is read.

A response sent before the request's body was read whole says ``Connection: close``: the
server then drops the connection instead of reading (and discarding) the rest. (FastAPI's own
``max_body_size`` is not used: it acts after routing, so not on the pulse answer's fast path,
and one limit per route would be spread over the route modules instead of listed here.)
"""

from __future__ import annotations

import hmac
from typing import Any

from fastapi import HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.datastructures import FormData, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dipstick.web.auth import early_token
from dipstick.web.templating import WebConfig, templates

FORM_BYTES = 1024**2              # a form or a JSON body: sign-in, actions, check requests
ANSWER_BYTES = 64 * 1024          # a pulse answer (two comments of 2,000 characters fit)
LINKS_BYTES = 3 * 1024**2         # a check-in's invitee CSV (2 MB) and its form
UPLOAD_PATHS = frozenset({"/runs/upload", "/api/packages"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
HSTS = "max-age=31536000"

# No inline scripts, no other origins: the pages' JavaScript is htmx, plotly.js and app.js,
# all served from /static; figures travel as JSON islands (not executed).
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
       "img-src 'self' data:; font-src 'self' data:; object-src 'none'; base-uri 'self'; "
       "form-action 'self'; frame-ancestors 'none'")
SECURITY_HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin",
                    "Content-Security-Policy": CSP}


class TooLarge(HTTPException):
    """A body past its route's limit: answered 413 by the app's error handler (JSON or page)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is larger than this server takes here "
                              f"({limit:,} bytes)")


def body_limit(method: str, path: str, config: WebConfig) -> int:
    """The most bytes a request's body may have: an upload takes ``--max-upload-mb``, a pulse
    answer and a form little, a request that should have none nothing."""
    if method in SAFE_METHODS:
        return 0
    if path in UPLOAD_PATHS:
        return config.max_upload_bytes
    if path.startswith("/p/"):
        return ANSWER_BYTES
    if path.startswith("/pulse/campaigns/") and path.endswith("/links"):
        return LINKS_BYTES
    return FORM_BYTES


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return None


def route_path(scope: Scope) -> str:
    """The path the routes see: without the prefix the app is mounted under (root_path)."""
    path: str = scope.get("path", "")
    root: str = scope.get("root_path", "")
    return path[len(root):] if root and path.startswith(root) else path


def _wants_html(scope: Scope) -> bool:
    return not route_path(scope).startswith("/api/") and "text/html" in (
        _header(scope, b"accept") or "")


class Edge:
    """The outermost layer: body limits while streaming, security headers on every answer."""

    def __init__(self, app: ASGIApp, config: WebConfig) -> None:
        self.app, self.config = app, config
        self.headers = SECURITY_HEADERS | ({"Strict-Transport-Security": HSTS}
                                           if config.https else {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = route_path(scope)
        limit = body_limit(scope["method"], path, self.config)
        declared = _header(scope, b"content-length")
        chunked = _header(scope, b"transfer-encoding") is not None
        has_body = chunked or (declared is not None and declared.strip() not in ("", "0"))
        state = {"received": 0, "done": not has_body, "started": False}
        cache = not path.startswith("/static/")

        async def counted() -> Message:
            if state["received"] > limit:
                raise TooLarge(limit)
            message = await receive()
            if message["type"] == "http.request":
                state["received"] += len(message.get("body", b""))
                if state["received"] > limit:
                    raise TooLarge(limit)
                state["done"] = not message.get("more_body", False)
            return message

        async def stamped(message: Message) -> None:
            if message["type"] == "http.response.start":
                state["started"] = True
                headers = MutableHeaders(scope=message)
                for name, value in self.headers.items():
                    headers.setdefault(name, value)
                if cache:
                    headers.setdefault("Cache-Control", "no-store")
                if not state["done"]:        # the rest of the body is not wanted
                    headers["Connection"] = "close"
            await send(message)

        if declared is not None and (not declared.strip().isdigit() or int(declared) > limit):
            await self._refuse(scope, limit)(scope, receive, stamped)
            return
        try:
            await self.app(scope, counted, stamped)
        except TooLarge:
            if state["started"]:
                raise
            await self._refuse(scope, limit)(scope, receive, stamped)

    @staticmethod
    def _refuse(scope: Scope, limit: int) -> Response:
        """413 before the app sees the request (no session here: a page without the header)."""
        error = TooLarge(limit)
        if _wants_html(scope):
            page = templates().get_template("error.html.j2").render(
                who=None, code=413, detail=error.detail)
            return HTMLResponse(page, status_code=413)
        return JSONResponse({"error": 413, "detail": error.detail}, status_code=413)


async def read_form(request: Request, **limits: int) -> FormData:
    """The request's form, for a route that reads its body itself (after its checks): a body
    that is no form (a broken multipart) is a 400, not a traceback."""
    try:
        return await request.form(**limits)
    except ValueError as e:          # python-multipart's parse errors are ValueErrors
        raise HTTPException(400, f"the form could not be read: {e}") from None


class FormGate:
    """A browser's post is checked against its session's form token before its body is read."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] != "http" or scope["method"] in SAFE_METHODS
                or route_path(scope).startswith("/p/")
                or (_header(scope, b"authorization") or "").lower().startswith("bearer ")):
            await self.app(scope, receive, send)
            return
        expected = scope.get("session", {}).get("csrf")
        early = early_token(scope)
        if isinstance(expected, str) and (early is None or hmac.compare_digest(
                expected.encode(), early.encode())):
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive, send)
        handler: Any = scope["app"].exception_handlers[HTTPException]
        response: Response = await handler(request, HTTPException(
            403, "the form has expired or did not come from this site: reload the page and "
                 "try again"))
        await response(scope, receive, send)
