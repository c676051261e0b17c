"""Web app users and API tokens in the app database.

Passwords are hashed with argon2id (argon2-cffi's defaults: memory-hard, salted, with the
parameters inside the hash so they can be raised later); API tokens are 256-bit random strings
shown once and kept as SHA-256 hashes, so a copy of the database gives neither away.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dipstick.errors import UsageError
from dipstick.store import Store
from dipstick.store.audit import Actor, record
from dipstick.store.tables import ROLES, ApiToken, User, WebSession

_HASHER = PasswordHasher()
# A real hash to verify against when the e-mail is unknown, so a failed login takes as long
# whether or not the account exists.
_DUMMY = _HASHER.hash("not a password")
MIN_PASSWORD = 10


@dataclass(frozen=True)
class Account:
    """A signed-in user, as the web layer sees it."""

    id: int
    email: str
    name: str
    role: str


def _account(u: User) -> Account:
    return Account(u.id, u.email, u.name, u.role)


def _session(store: Store) -> Session:
    return Session(store.engine, expire_on_commit=False)


def create_user(store: Store, email: str, password: str, role: str, name: str = "",
                actor: Actor | None = None) -> Account:
    """A new user; with ``actor``, audited (``user.create``) in the same transaction."""
    email = email.strip().lower()
    if role not in ROLES:
        raise UsageError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    if "@" not in email:
        raise UsageError(f"{email!r} is not an e-mail address")
    if len(password) < MIN_PASSWORD:
        raise UsageError(f"the password needs at least {MIN_PASSWORD} characters")
    user = User(email=email, name=name or email.split("@")[0], role=role,
                password_hash=_HASHER.hash(password), created_at=datetime.now(UTC), active=True)
    try:
        with _session(store) as s, s.begin():
            s.add(user)
            s.flush()   # the unique e-mail is checked before the audit entry is written
            record(s, actor, "user.create", email, {"role": role})
    except IntegrityError:
        raise UsageError(f"a user {email!r} exists already") from None
    return _account(user)


def set_password(store: Store, email: str, password: str, role: str, name: str = "",
                 actor: Actor | None = None) -> Account:
    """Create the user, or give an existing one this password (and role): for the demo's
    admin, whose password is new each time the demo is written. With ``actor``, audited
    (``user.password``, and ``user.role`` when the role changes)."""
    with _session(store) as s, s.begin():
        user = s.scalar(select(User).where(User.email == email.strip().lower()))
        if user is not None:
            user.password_hash = _HASHER.hash(password)
            record(s, actor, "user.password", user.email)
            if user.role != role:
                record(s, actor, "user.role", user.email, {"from": user.role, "to": role})
            user.role = role
            user.active = True
            return _account(user)
    return create_user(store, email, password, role, name, actor)


def authenticate(store: Store, email: str, password: str) -> Account | None:
    """The account when the password is right, else None (in the same time either way)."""
    with _session(store) as s:
        user = s.scalar(select(User).where(User.email == email.strip().lower(), User.active))
        try:
            _HASHER.verify(user.password_hash if user else _DUMMY, password)
        except (VerificationError, InvalidHashError):
            return None
        if user is None:
            return None
        if _HASHER.check_needs_rehash(user.password_hash):
            with s.begin():
                user.password_hash = _HASHER.hash(password)
        return _account(user)


def start_session(store: Store, user_id: int, actor: Actor | None = None,
                  via: str = "password") -> str:
    """A new sign-in; its random id goes into the signed cookie. With ``actor``, audited
    (``sign-in``, ``via`` how: a password, or the identity provider) in the same
    transaction."""
    sid = secrets.token_urlsafe(32)
    with _session(store) as s, s.begin():
        s.add(WebSession(id=sid, user_id=user_id, created_at=datetime.now(UTC)))
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
            row.ended_at = datetime.now(UTC)


def users(store: Store) -> list[Account]:
    with _session(store) as s:
        return [_account(u) for u in s.scalars(select(User).order_by(User.email))]


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(store: Store, email: str, name: str, actor: Actor | None = None) -> str:
    """A new API token for the user; the only time it is seen in clear. With ``actor``,
    audited (``user.token``: its name, never the token)."""
    token = "dst_" + secrets.token_urlsafe(32)
    with _session(store) as s, s.begin():
        user = s.scalar(select(User).where(User.email == email.strip().lower()))
        if user is None:
            raise UsageError(f"no user {email!r}")
        s.add(ApiToken(user_id=user.id, name=name, token_hash=_digest(token),
                       created_at=datetime.now(UTC)))
        record(s, actor, "user.token", user.email, {"name": name})
    return token


def token_account(store: Store, token: str) -> Account | None:
    with _session(store) as s, s.begin():
        row = s.scalar(select(ApiToken).where(ApiToken.token_hash == _digest(token)))
        if row is None or not row.user.active:
            return None
        row.last_used_at = datetime.now(UTC)
        return _account(row.user)


def emails_with_role(store: Store, role: str) -> list[str]:
    """The active users' e-mail addresses with this role, sorted (the digest's leaders)."""
    with _session(store) as s:
        return list(s.scalars(select(User.email).where(User.role == role, User.active)
                              .order_by(User.email)))
