"""The public check-in form (``/p/{token}``, issue 6), the one page reachable without an
account, and its fast path for answers (issue 16).

Its security model (docs/pulse.md): the token in the URL is a 256-bit secret, so only who
holds the link can answer; each form carries a nonce (an HMAC of the link and the time it was
served, and for an open link of the browser's SameSite=Strict cookie), so a post must come from
a form this server rendered; failures are rate limited per link and per client address; an
unknown and a closed link get the same 404; a used link gets 409 and changes nothing; the
answer is committed before the 200 is sent (group commit: dipstick.store.pulse_batches).
"""

from __future__ import annotations

import asyncio
import secrets
import threading
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.middleware.sessions import SessionMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from dipstick.pulse import campaigns as repo
from dipstick.pulse.form import MAX_COMMENT, AnswerError, parse_answer
from dipstick.pulse.tokens import digest, make_nonce, nonce_ok
from dipstick.settings import secret_key
from dipstick.web.auth import Throttle, store_of
from dipstick.web.limits import read_form
from dipstick.web.templating import templates

router = APIRouter()

BROWSER_COOKIE = "dipstick_pulse_browser"
FAILURES = {"token": 10, "ip": 60}     # failed posts / unknown links per 15 minutes
SHORT_FORM = 64 * 1024       # bytes of a URL-encoded answer parsed by :func:`_fields`
_key_lock = threading.Lock()


def _wants_json(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


def _key(request: Request) -> bytes:
    """The nonces' key, read once per app (reading the settings costs ~0.7 ms, and a post
    checks up to three nonces); the sessions' key is likewise read when the app is made."""
    state = request.app.state
    key: bytes | None = getattr(state, "pulse_key", None)
    if key is None:
        key = state.pulse_key = str(state.config.secret_key or secret_key()).encode()
    return key


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


async def _fields(request: Request) -> dict[str, str]:
    """The posted form's text fields. A phone posts a short URL-encoded body: parsed here as
    Starlette parses it (``&``-separated, each name and value ``unquote_plus``-ed from
    Latin-1, the last of a repeated name kept) at a tenth of the CPU; anything else (other
    encodings, bodies near Starlette's limits) goes to Starlette's parser."""
    kind = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if kind == "application/x-www-form-urlencoded":
        body = await request.body()
        if len(body) <= SHORT_FORM and body.count(b"&") < 500:
            return dict(parse_qsl(body.decode("latin-1"), keep_blank_values=True))
    form = await read_form(request)      # reads the body kept by request.body(), if read
    return {k: v for k, v in form.items() if isinstance(v, str)}


@router.post("/p/{token}", response_model=None, include_in_schema=False)
async def answer(request: Request, token: str) -> Response:
    """Store an answer, then say thank you. 404 unknown or closed link, 409 used, 422 a bad
    answer (nothing stored), 403 a form this server did not serve, 429 too many failures."""
    throttle = _throttle(request)
    keys = _keys(request, token)
    wait = throttle.retry_after(*keys)
    if wait:
        return _limited(request, wait)
    fields = await _fields(request)
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
    target = await asyncio.wrap_future(repo.lookup_later(store, token, today)) \
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
    return HTMLResponse(_thanks(target.campaign.service_name,
                                target.campaign.group_name(target.group)),
                        headers={"Cache-Control": "no-store"})


@lru_cache(maxsize=256)
def _thanks(service: str, group: str) -> bytes:
    """The thank-you page of a (service, group): the same for every respondent, so rendered
    once (as :func:`_public` would: the pulse templates use no ``request``)."""
    return templates().get_template("pulse_thanks.html.j2").render(
        service=service, group=group).encode()


class AnswerFastPath:
    """ASGI middleware: a POST to ``/p/{token}`` (a respondent's answer) goes straight to
    :func:`answer`, past the routing of every other page and the other middleware, which
    cost more CPU than the answer itself (issue 16: answers by the thousand). The same
    handler, checks and responses; the security headers and the body's limit come from the
    app's edge around it (dipstick.web.limits), and an error (403, 413) goes to the app's
    HTTPException handler inside the app's session middleware, as through the stack (its
    HTML page carries a form token)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        token = path[3:]
        if (scope["type"] != "http" or scope["method"] != "POST" or not path.startswith("/p/")
                or not token or "/" in token or scope.get("root_path")):
            await self.app(scope, receive, send)
            return
        try:
            response = await answer(Request(scope, receive, send), token)
        except HTTPException as e:
            await self._error(scope, e)(scope, receive, send)
            return
        await response(scope, receive, send)

    @staticmethod
    def _error(scope: Scope, error: HTTPException) -> ASGIApp:
        """The app's own answer to the error, within the app's session middleware."""
        app = scope["app"]
        handler: Any = app.exception_handlers.get(HTTPException)
        if handler is None:
            raise error

        async def respond(scope: Scope, receive: Receive, send: Send) -> None:
            response = await handler(Request(scope, receive, send), error)
            await response(scope, receive, send)
        wrapped: ASGIApp = respond
        for m in reversed(app.user_middleware):
            if m.cls is SessionMiddleware:
                wrapped = SessionMiddleware(wrapped, *m.args, **m.kwargs)
        return wrapped
