"""Sign-in through the organisation's identity provider: OpenID Connect with Authlib.

The authorization code flow with PKCE (S256): ``/login/oidc`` sends the browser to the
provider with a random ``state`` and ``nonce`` kept in the signed session cookie; the provider
sends it back to ``/login/oidc/callback``, where Authlib checks the state against the session,
exchanges the code (with the PKCE verifier and the client secret) and verifies the ID token:
its signature against the provider's JWKS, its issuer (the configured one), audience, expiry
and nonce. Only then are its groups mapped to a role (:mod:`dipstick.rolemap`) and the user
signed in — created on first sign-in without a local password, their role updated from the
groups on every sign-in, refused when disabled here or in no mapped group.

The callback's address comes from ``serve --base-url`` or DIPSTICK_BASE_URL, never from
the request's ``Host``.
Local passwords stay beside it (``/login``) for small installations and break-glass admins.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from typing import Any

import authlib.deprecate  # noqa: F401  (first: importing it sets its warnings to "always")
import httpx
from authlib.common.errors import AuthlibBaseError
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from joserfc.errors import JoseError
from starlette.concurrency import run_in_threadpool

with warnings.catch_warnings():   # Authlib nudges towards httpx2; httpx is what we use
    warnings.filterwarnings("ignore", message="The httpx module is deprecated")
    from authlib.integrations.starlette_client import OAuth

from dipstick.errors import UsageError
from dipstick.rolemap import parse_role_map, role_for
from dipstick.settings import settings
from dipstick.store.users import sign_in_external, start_session
from dipstick.web.audit import actor_of
from dipstick.web.auth import store_of
from dipstick.web.pages import _safe_next
from dipstick.web.templating import base_url, render

router = APIRouter(include_in_schema=False)
log = logging.getLogger("dipstick.web.oidc")
CALLBACK = "/login/oidc/callback"
# what the exchange with the provider may raise when something is wrong or forged: a refusal
# page, never a 500
_FAILED = (AuthlibBaseError, JoseError, httpx.HTTPError, ValueError, KeyError, RuntimeError)


@dataclass(frozen=True)
class OidcConfig:
    issuer: str
    client_id: str
    client_secret: str
    groups_claim: str
    roles: dict[str, str]
    scopes: str
    label: str


def oidc_config() -> OidcConfig | None:
    """The provider from the DIPSTICK_OIDC_* variables; None when no issuer is set. A
    half-done setting (issuer without client, a bad role map) is a UsageError naming it."""
    s = settings()
    if not s.oidc_issuer:
        return None
    missing = [name for name, value in (("DIPSTICK_OIDC_CLIENT_ID", s.oidc_client_id),
                                        ("DIPSTICK_OIDC_CLIENT_SECRET", s.oidc_client_secret),
                                        ("DIPSTICK_OIDC_ROLES", s.oidc_roles)) if not value]
    if missing:
        raise UsageError(f"DIPSTICK_OIDC_ISSUER is set but {', '.join(missing)} "
                         f"{'is' if len(missing) == 1 else 'are'} not")
    assert s.oidc_client_id is not None and s.oidc_client_secret is not None
    return OidcConfig(s.oidc_issuer.rstrip("/"), s.oidc_client_id,
                      s.oidc_client_secret.get_secret_value(), s.oidc_groups_claim,
                      parse_role_map(s.oidc_roles), s.oidc_scopes, s.oidc_label)


def oidc_client(config: OidcConfig) -> Any:
    """Authlib's client of the provider (its metadata and keys fetched on first use)."""
    oauth = OAuth()
    return oauth.register(
        "idp", client_id=config.client_id, client_secret=config.client_secret,
        server_metadata_url=f"{config.issuer}/.well-known/openid-configuration",
        client_kwargs={"scope": config.scopes, "code_challenge_method": "S256"})


def _client(request: Request) -> tuple[OidcConfig, Any]:
    found: tuple[OidcConfig, Any] | None = getattr(request.app.state, "oidc", None)
    if found is None:
        raise HTTPException(404, "sign-in through an identity provider is not set up here")
    return found


def _refused(request: Request, message: str, status: int) -> HTMLResponse:
    """The login page with the reason: a person who cannot get in is told why, clearly."""
    return render(request, "login.html.j2", None, status=status, next="/", error=message)


@router.get("/login/oidc", response_model=None)
async def start(request: Request, next: str | None = None) -> Response:
    _, client = _client(request)
    request.session["oidc_next"] = _safe_next(next)
    callback = base_url(request) + CALLBACK
    try:
        redirect: Response = await client.authorize_redirect(request, callback)
    except _FAILED as e:
        log.warning("the identity provider cannot be reached: %s: %s", type(e).__name__, e)
        return _refused(request, "The identity provider cannot be reached: try again later, "
                                 "or sign in with a password.", 502)
    return redirect


@router.get(CALLBACK, response_model=None)
async def callback(request: Request) -> Response:
    config, client = _client(request)
    try:
        token = await client.authorize_access_token(request, claims_options={
            "iss": {"essential": True, "values": [config.issuer]},
            "nonce": {"essential": True}})
    except _FAILED as e:   # the operator's log says why; the person is told to try again
        log.warning("sign-in through the identity provider refused: %s: %s",
                    type(e).__name__, e)
        return _refused(request, "The sign-in could not be verified (it may have expired or "
                                 "not started here). Please try again.", 400)
    claims: dict[str, Any] = dict(token.get("userinfo") or {})
    email = claims.get("email")
    if not isinstance(email, str) or "@" not in email or claims.get("email_verified") is False:
        return _refused(request, "The identity provider gave no verified e-mail address for "
                                 "you: dipstick cannot tell who you are.", 403)
    groups = claims.get(config.groups_claim) or []
    groups = [groups] if isinstance(groups, str) else [str(g) for g in groups]
    role = role_for(groups, config.roles)
    if role is None:
        return _refused(request, "You signed in, but none of your groups gives access to "
                                 "dipstick. Ask an administrator to add you to one.", 403)
    try:
        who = await run_in_threadpool(sign_in_external, store_of(request),
                                      str(claims["sub"]), email, str(claims.get("name") or ""),
                                      role, actor_of(request, email.strip().lower()))
    except UsageError as e:
        return _refused(request, f"dipstick cannot sign you in: {e}", 409)
    if who is None:
        return _refused(request, "This account is disabled in dipstick. Ask an "
                                 "administrator.", 403)
    target = request.session.get("oidc_next")
    request.session.clear()   # a fresh session at sign-in: no fixation
    request.session["sid"] = await run_in_threadpool(start_session, store_of(request), who.id,
                                                     actor_of(request, who), "oidc")
    return RedirectResponse(target if isinstance(target, str) else "/", status_code=303)
