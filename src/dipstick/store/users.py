"""Web app users, their sign-ins and API tokens in the app database — and how access ends.

Passwords are hashed with argon2id (argon2-cffi's defaults: memory-hard, salted, with the
parameters inside the hash so they can be raised later); API tokens are 256-bit random strings
shown once and kept as SHA-256 hashes, so a copy of the database gives neither away.

Access can end (issue 17): a user can be disabled (no sign-in, no token, every sign-in ended),
a new password ends every sign-in, tokens expire and can be revoked. Every such change passes
through :func:`_access_changed`, inside the change's own transaction — the one seam where the
sessions are ended and where the audit trail records who changed what.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dipstick.errors import UsageError
from dipstick.rolemap import ROLES
from dipstick.store import Store
from dipstick.store.audit import Actor, record
from dipstick.store.tables import ApiToken, User, WebSession

_HASHER = PasswordHasher()
# A real hash to verify against when the e-mail is unknown (or has no local password), so a
# failed login takes as long whether or not the account exists.
_DUMMY = _HASHER.hash("not a password")
MIN_PASSWORD = 10
TOKEN_DAYS = 90   # an API token's default life (docs/web.md); 0 days: never expires

# The changes of access, as _access_changed names them; the first two end every sign-in.
ENDS_SESSIONS = ("disabled", "password")
CHANGES = (*ENDS_SESSIONS, "created", "enabled", "role", "token-created", "token-revoked")
# each change's name in the audit trail (docs/security.md, section D)
AUDITED = {"created": "user.create", "disabled": "user.disable", "enabled": "user.enable",
           "password": "user.password", "role": "user.role", "token-created": "user.token",
           "token-revoked": "user.token.revoke"}


@dataclass(frozen=True)
class Account:
    """A signed-in user, as the web layer sees it."""

    id: int
    email: str
    name: str
    role: str


@dataclass(frozen=True)
class UserInfo:
    """A user as the admin's list shows them: role, state, how they sign in."""

    id: int
    email: str
    name: str
    role: str
    active: bool
    password: bool          # has a local password
    oidc: bool              # has signed in through the identity provider
    created_at: datetime

    @property
    def state(self) -> str:
        return "active" if self.active else "disabled"


@dataclass(frozen=True)
class TokenInfo:
    """An API token as listed: everything but the token (which is never kept)."""

    id: int
    email: str
    name: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None

    def state(self, now: datetime | None = None) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= (now or datetime.now(UTC)):
            return "expired"
        return "active"


@dataclass(frozen=True)
class NewToken:
    id: int
    token: str              # the only time it is seen in clear
    expires_at: datetime | None


def _account(u: User) -> Account:
    return Account(u.id, u.email, u.name, u.role)


def _session(store: Store) -> Session:
    return Session(store.engine, expire_on_commit=False)


def _now() -> datetime:
    return datetime.now(UTC)


def _access_changed(s: Session, user: User, change: str, actor: Actor | None,
                    detail: dict[str, Any] | None = None) -> None:
    """Every change of who may do what passes here, in the change's transaction. A disable or
    a new password ends all the user's sign-ins at once: a copy of an old cookie is signed
    out on its next request. A disable also revokes their API tokens, so enabling the user
    again gives back the sign-in, not the old sessions or tokens. The audit trail records
    here, as ``user.<change>`` (``actor`` None: a change dipstick makes itself, unrecorded)."""
    assert change in CHANGES, change
    now = _now()
    if change in ENDS_SESSIONS:
        s.execute(update(WebSession)
                  .where(WebSession.user_id == user.id, WebSession.ended_at.is_(None))
                  .values(ended_at=now))
    if change == "disabled":
        s.execute(update(ApiToken)
                  .where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
                  .values(revoked_at=now))
    record(s, actor, AUDITED[change], user.email, detail)


def _find(s: Session, email: str) -> User:
    user = s.scalar(select(User).where(User.email == email.strip().lower()))
    if user is None:
        raise UsageError(f"no user {email.strip()!r}")
    return user


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise UsageError(f"role must be one of {', '.join(ROLES)}, not {role!r}")


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise UsageError(f"the password needs at least {MIN_PASSWORD} characters")


def create_user(store: Store, email: str, password: str, role: str, name: str = "",
                actor: Actor | None = None) -> Account:
    _check_role(role)
    _check_password(password)
    return _create(store, email, role, name, _HASHER.hash(password), None, actor)


def _create(store: Store, email: str, role: str, name: str, password_hash: str,
            subject: str | None, actor: Actor | None) -> Account:
    email = email.strip().lower()
    if "@" not in email:
        raise UsageError(f"{email!r} is not an e-mail address")
    user = User(email=email, name=name or email.split("@")[0], role=role,
                password_hash=password_hash, created_at=_now(), active=True,
                oidc_subject=subject)
    try:
        with _session(store) as s, s.begin():
            s.add(user)
            s.flush()
            _access_changed(s, user, "created", actor, {"role": role})
    except IntegrityError:
        raise UsageError(f"a user {email!r} exists already") from None
    return _account(user)


def set_password(store: Store, email: str, password: str, role: str, name: str = "",
                 actor: Actor | None = None) -> Account:
    """Create the user, or give an existing one this password (and role, enabled): for the
    demo's admin, whose password is new each time the demo is written."""
    with _session(store) as s, s.begin():
        user = s.scalar(select(User).where(User.email == email.strip().lower()))
        if user is not None:
            _check_password(password)
            user.password_hash = _HASHER.hash(password)
            _access_changed(s, user, "password", actor)
            if user.role != role:
                was, user.role = user.role, role
                _access_changed(s, user, "role", actor, {"from": was, "to": role})
            if not user.active:
                user.active = True
                _access_changed(s, user, "enabled", actor)
            return _account(user)
    return create_user(store, email, password, role, name, actor)


def change_password(store: Store, email: str, password: str,
                    actor: Actor | None = None) -> Account:
    """A new password for an existing user; every sign-in with the old one ends."""
    _check_password(password)
    with _session(store) as s, s.begin():
        user = _find(s, email)
        user.password_hash = _HASHER.hash(password)
        _access_changed(s, user, "password", actor)
        return _account(user)


def set_active(store: Store, email: str, active: bool, actor: Actor | None = None) -> UserInfo:
    """Disable (no sign-in, no API token, every sign-in ended) or enable a user again."""
    with _session(store) as s, s.begin():
        user = _find(s, email)
        if user.active != active:
            user.active = active
            _access_changed(s, user, "enabled" if active else "disabled", actor)
        return _info(user)


def set_role(store: Store, email: str, role: str, actor: Actor | None = None) -> UserInfo:
    _check_role(role)
    with _session(store) as s, s.begin():
        user = _find(s, email)
        if user.role != role:
            was, user.role = user.role, role
            _access_changed(s, user, "role", actor, {"from": was, "to": role})
        return _info(user)


def authenticate(store: Store, email: str, password: str) -> Account | None:
    """The account when the password is right, else None — in the same time, and with the
    same answer, for a wrong password, an unknown, a disabled or a password-less user."""
    with _session(store) as s:
        user = s.scalar(select(User).where(User.email == email.strip().lower(), User.active))
        known = user.password_hash if user is not None and user.password_hash else None
        try:
            _HASHER.verify(known or _DUMMY, password)
        except (VerificationError, InvalidHashError):
            return None
        if user is None or known is None:
            return None
        if _HASHER.check_needs_rehash(known):
            with s.begin():
                user.password_hash = _HASHER.hash(password)
        return _account(user)


def sign_in_external(store: Store, subject: str, email: str, name: str, role: str,
                     actor: Actor | None = None) -> Account | None:
    """A sign-in the identity provider vouched for: the user (found by its subject, else by
    e-mail) with the role their groups map to now, created on first sign-in (no local
    password). None when the user is disabled here."""
    _check_role(role)
    with _session(store) as s, s.begin():
        user = s.scalar(select(User).where(User.oidc_subject == subject))
        if user is None:
            user = s.scalar(select(User).where(User.email == email.strip().lower()))
        if user is not None:
            if not user.active:
                return None
            user.oidc_subject = subject
            if user.role != role:
                was, user.role = user.role, role
                _access_changed(s, user, "role", actor, {"from": was, "to": role,
                                                         "by": "the identity provider"})
            return _account(user)
    return _create(store, email, role, name, "", subject, actor)


def start_session(store: Store, user_id: int, actor: Actor | None = None,
                  via: str = "password") -> str:
    """A new sign-in; its random id goes into the signed cookie. With ``actor``, audited
    (``sign-in``, ``via`` how: a password, or the identity provider) in the same
    transaction."""
    sid = secrets.token_urlsafe(32)
    with _session(store) as s, s.begin():
        s.add(WebSession(id=sid, user_id=user_id, created_at=_now()))
        record(s, actor, "sign-in", actor.who if actor else "", {"via": via})
    return sid


def session_account(store: Store, sid: str) -> Account | None:
    """The account of a sign-in that has not ended (and whose user is still active)."""
    with _session(store) as s:
        row = s.get(WebSession, sid)
        if row is None or row.ended_at is not None:
            return None
        user = s.get(User, row.user_id)
        return _account(user) if user is not None and user.active else None


def end_session(store: Store, sid: str) -> None:
    with _session(store) as s, s.begin():
        row = s.get(WebSession, sid)
        if row is not None and row.ended_at is None:
            row.ended_at = _now()


def _info(u: User) -> UserInfo:
    return UserInfo(u.id, u.email, u.name, u.role, u.active, bool(u.password_hash),
                    u.oidc_subject is not None, u.created_at)


def users(store: Store) -> list[UserInfo]:
    with _session(store) as s:
        return [_info(u) for u in s.scalars(select(User).order_by(User.email))]


def emails_with_role(store: Store, role: str) -> list[str]:
    """The active users' e-mail addresses with this role, sorted (the digest's leaders)."""
    with _session(store) as s:
        return list(s.scalars(select(User.email).where(User.role == role, User.active)
                              .order_by(User.email)))


# --- API tokens ------------------------------------------------------------------------------

def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(store: Store, email: str, name: str, expires_days: int = TOKEN_DAYS,
                 actor: Actor | None = None) -> NewToken:
    """A new API token for the user, valid ``expires_days`` (0: until revoked)."""
    if expires_days < 0:
        raise UsageError(f"expires days must be 0 (never) or more, not {expires_days}")
    token = "dst_" + secrets.token_urlsafe(32)
    now = _now()
    expires = now + timedelta(days=expires_days) if expires_days else None
    with _session(store) as s, s.begin():
        user = _find(s, email)
        row = ApiToken(user_id=user.id, name=name, token_hash=_digest(token), created_at=now,
                       expires_at=expires)
        s.add(row)
        s.flush()
        _access_changed(s, user, "token-created", actor, {"id": row.id, "name": name})
        return NewToken(row.id, token, expires)


def _token_info(row: ApiToken) -> TokenInfo:
    return TokenInfo(row.id, row.user.email, row.name, row.created_at, row.expires_at,
                     row.last_used_at, row.revoked_at)


def tokens(store: Store, email: str | None = None) -> list[TokenInfo]:
    """The tokens (of one user, or everyone's), oldest first; never the tokens themselves."""
    with _session(store) as s:
        query = select(ApiToken).join(User).order_by(ApiToken.id)
        if email is not None:
            query = query.where(User.id == _find(s, email).id)
        return [_token_info(row) for row in s.scalars(query)]


def revoke_token(store: Store, token_id: int, actor: Actor | None = None) -> TokenInfo:
    """End a token for good (revoking it again changes nothing)."""
    with _session(store) as s, s.begin():
        row = s.get(ApiToken, token_id)
        if row is None:
            raise UsageError(f"no API token with id {token_id}")
        if row.revoked_at is None:
            row.revoked_at = _now()
            _access_changed(s, row.user, "token-revoked", actor, {"id": row.id, "name": row.name})
        return _token_info(row)


def token_account(store: Store, token: str) -> Account | None:
    """The token's user, if the token is neither revoked nor expired and the user active."""
    now = _now()
    with _session(store) as s, s.begin():
        row = s.scalar(select(ApiToken).where(ApiToken.token_hash == _digest(token)))
        if (row is None or row.revoked_at is not None or not row.user.active
                or (row.expires_at is not None and row.expires_at <= now)):
            return None
        row.last_used_at = now
        return _account(row.user)
