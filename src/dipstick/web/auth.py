"""Who is asking, and may they: sessions, API tokens, roles, CSRF and login throttling.

Every route but the login page and static assets depends on :func:`account` (through
:func:`page_user` for HTML or :func:`api_user` for JSON), so nothing is reachable without a
session or a token. Roles (docs/web.md):

* ``admin`` — everything, including users and data packages;
* ``leader`` — reads everything;
* ``owner`` — reads everything, acts on the services they own (``owner`` = their e-mail);
* ``viewer`` — reads the portfolio, never raw comments.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from threading import Lock
from typing import Annotated
from urllib.parse import parse_qsl

from fastapi import Depends, HTTPException, Request
from starlette.types import Scope

from dipstick.store import Store
from dipstick.store.users import Account, session_account, token_account

ROLES = ("admin", "leader", "owner", "viewer")
READ_ALL = ("admin", "leader", "owner")


class LoginRequired(Exception):
    """A page asked for without a session: answered with a redirect to the login page."""


def store_of(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


def account(request: Request) -> Account | None:
    """The caller: a bearer token (API clients) or the session's user (browsers)."""
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return token_account(store_of(request), header[7:].strip())
    sid = request.session.get("sid")
    return session_account(store_of(request), sid) if isinstance(sid, str) else None


def page_user(request: Request) -> Account:
    found = account(request)
    if found is None:
        raise LoginRequired
    return found


def api_user(request: Request) -> Account:
    found = account(request)
    if found is None:
        raise HTTPException(401, "sign in or send an API token (Authorization: Bearer …)")
    return found


# The callers as route parameters: ``who: PageUser`` (pages: no session → the login page) or
# ``who: ApiUser`` (the API: no session or token → 401).
PageUser = Annotated[Account, Depends(page_user)]
ApiUser = Annotated[Account, Depends(api_user)]


def allow(*roles: str) -> Callable[[Account], None]:
    """A check that the caller has one of ``roles`` (403 otherwise)."""

    def check(who: Account) -> None:
        if who.role not in roles:
            raise HTTPException(403, f"the {who.role} role may not do this")

    return check


def may_self_assess(who: Account, owner: str | None) -> bool:
    """Who answers a service's self-assessment: leaders and admins for every service, owners
    for the services they own (docs/self-assessment.md)."""
    return who.role in ("admin", "leader") or (
        who.role == "owner" and owner is not None and owner.strip().lower() == who.email)


def can_read_comments(who: Account) -> bool:
    return who.role != "viewer"


# --- CSRF ------------------------------------------------------------------------------------

def csrf_token(request: Request) -> str:
    """The session's anti-forgery token, created on first use; every form carries it."""
    token = request.session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


def check_csrf(request: Request, submitted: str | None) -> None:
    """A form post must carry the session's token: a page on another site cannot read it."""
    expected = request.session.get("csrf")
    if not isinstance(expected, str) or not submitted or not hmac.compare_digest(
            expected, submitted):
        raise HTTPException(403, "the form has expired or did not come from this site: "
                                 "reload the page and try again")


async def form_csrf(request: Request) -> None:
    """The form's token checked before its other fields are: a forged post is refused (403)
    whatever it holds, not told which fields it lacks (422)."""
    form = await request.form()    # parsed once; the route's Form() fields read the same
    token = form.get("csrf_token")
    check_csrf(request, token if isinstance(token, str) else None)


# ``_: CsrfForm`` on a form route, after the caller's dependency
CsrfForm = Annotated[None, Depends(form_csrf)]


def early_token(scope: Scope) -> str | None:
    """A form token sent ahead of the body: the ``X-CSRF-Token`` header (scripts) or the
    ``csrf_token`` query parameter (the upload form's action, so it works without JS)."""
    for key, value in scope.get("headers", ()):
        if key == b"x-csrf-token":
            return str(value.decode("latin-1"))
    query = scope.get("query_string", b"").decode("latin-1")
    found = [v for k, v in parse_qsl(query, keep_blank_values=True) if k == "csrf_token"]
    return found[-1] if found else None


def csrf_ahead(request: Request) -> None:
    """An upload's form token, checked before its body is read (a multipart body cannot be
    read for its token without reading the file): from the header or the query, unless the
    caller signs in with a bearer token (no cookie: nothing a page elsewhere could forge)."""
    if not request.headers.get("authorization", "").lower().startswith("bearer "):
        check_csrf(request, early_token(request.scope))


# ``_: CsrfAhead`` on a route that reads its body itself, after the caller's dependency
CsrfAhead = Annotated[None, Depends(csrf_ahead)]


# --- login throttling -------------------------------------------------------------------------

class Throttle:
    """Failed logins per ``window`` seconds: at most 5 against one e-mail (slows guessing one
    account) and 30 from one client address (slows spraying many; higher, as an office shares
    one address). Keys are ``"email:…"`` / ``"ip:…"``. In memory, per process.

    Bounded (issue 17: random pulse links grew it by 17 MB per 40,000): a key is kept only
    while it has failures in the window, and at most ``max_keys`` are kept — the least
    recently used go first (a flood of new keys can then make an old key forget, never make
    the server run out of memory). ``clock`` is the monotonic clock (a test's own, to expire
    keys without waiting)."""

    def __init__(self, limits: dict[str, int] | None = None, window: float = 900.0,
                 max_keys: int = 10_000, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits or {"email": 5, "ip": 30}
        self.window = window
        self.max_keys = max_keys
        self._clock = clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = Lock()

    def __len__(self) -> int:
        return len(self._failures)

    def _recent(self, key: str, now: float) -> deque[float] | None:
        """The key's failures in the window (None: none — and then the key is forgotten)."""
        q = self._failures.get(key)
        if q is None:
            return None
        while q and now - q[0] > self.window:
            q.popleft()
        if not q:
            del self._failures[key]
            return None
        self._failures.move_to_end(key)
        return q

    def _expire(self, now: float) -> None:
        """Forget the least recently used keys while their last failure is out of the window,
        and any beyond ``max_keys``."""
        while self._failures:
            key, q = next(iter(self._failures.items()))
            if len(self._failures) <= self.max_keys and q and now - q[-1] <= self.window:
                break
            del self._failures[key]

    def retry_after(self, *keys: str) -> int:
        """Seconds until another attempt is allowed (0: allowed now)."""
        now = self._clock()
        with self._lock:
            waits = [self.window - (now - q[0]) for k in keys
                     if (q := self._recent(k, now)) is not None
                     and len(q) >= self.limits[k.split(":", 1)[0]]]
        return int(max(waits, default=0)) + (1 if waits else 0)

    def fail(self, *keys: str) -> None:
        now = self._clock()
        with self._lock:
            for k in keys:
                q = self._recent(k, now)
                if q is None:
                    q = self._failures[k] = deque()
                q.append(now)
                if len(q) > self.limits[k.split(":", 1)[0]]:
                    q.popleft()     # only the last `limit` failures decide a wait
            self._expire(now)

    def clear(self, *keys: str) -> None:
        with self._lock:
            for k in keys:
                self._failures.pop(k, None)
