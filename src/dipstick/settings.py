"""Every ``DIPSTICK_*`` environment variable the runtime reads, in one place (pydantic-settings).

Why one place: the secret key used to be read by two modules with two different fallbacks (a
key per app and a key per process), so a server without ``DIPSTICK_SECRET_KEY`` signed its
sessions and its pulse-form nonces with different keys; and the variables were documented
nowhere together. The table in docs/web.md lists these fields. The settings are read afresh on
each call (cheap), so a variable set after import — as a test or a wrapper script does — counts.
Secrets named in dipstick.yaml (``url_env``, ``password_env``) and the pull's credentials are
read where they are named, from the environment the caller passes; they are not dipstick's own
variables.
"""

from __future__ import annotations

import secrets

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from dipstick.defaults import DEFAULT_BASE_URL

# The one fallback for an unset DIPSTICK_SECRET_KEY: a random key made once per process, so
# every part of one server (session cookies, pulse-form nonces) signs with the same key, and
# what it signed stops being valid when the server stops.
_PROCESS_KEY = secrets.token_urlsafe(32)


class Settings(BaseSettings):
    """dipstick's environment. Empty variables count as unset."""

    model_config = SettingsConfigDict(env_prefix="DIPSTICK_", env_ignore_empty=True,
                                      extra="ignore", frozen=True)

    database_url: str | None = None
    """The app database (SQLAlchemy URL); unset: the SQLite file ./dipstick.db."""
    secret_key: SecretStr | None = None
    """Signs session cookies and pulse-form nonces; unset: a random key per process."""
    base_url: str = DEFAULT_BASE_URL
    """Where the web app is reached, for the links pulse checks send."""
    spark_master: str = "local[*]"
    """The Spark master for ``--engine spark``."""
    password: SecretStr | None = None
    """The password of ``dipstick users create`` (else asked for)."""
    memory_limit: str | None = None
    """DuckDB's memory bound for a check or a log's discovery, e.g. ``1GB`` (unset: DuckDB's
    80 % of RAM)."""
    temp_directory: str | None = None
    """Where a bounded check or discovery spills beyond ``memory_limit`` (unset: DuckDB's
    default)."""
    oidc_issuer: str | None = None
    """The organisation's OpenID Connect provider (its issuer URL); unset: local passwords only."""
    oidc_client_id: str | None = None
    """dipstick's client id at the provider."""
    oidc_client_secret: SecretStr | None = None
    """dipstick's client secret at the provider."""
    oidc_groups_claim: str = "groups"
    """The ID token claim that lists the person's groups."""
    oidc_roles: str = ""
    """Groups to roles, e.g. ``it-admins=admin,execs=leader,service-owners=owner,*=viewer``."""
    oidc_scopes: str = "openid email profile"
    """The scopes asked for (add the one that brings the groups claim, if the provider has one)."""
    oidc_label: str = "your organisation's sign-in"
    """The sign-in button's words: "Sign in with …"."""
    audit_days: str | None = None
    """How many days the audit trail keeps an entry (unset: 400). Text, checked where it is
    used (``dipstick.store.audit.keep_days``), so a bad value fails only what needs it."""


def settings() -> Settings:
    """The environment's settings, read now."""
    return Settings()


def secret_key() -> str:
    """The key that signs what the web app hands out: ``DIPSTICK_SECRET_KEY``, else this
    process's random key (sessions and form nonces then end when the server stops)."""
    given = settings().secret_key
    return given.get_secret_value() if given is not None else _PROCESS_KEY


def secret_key_is_set() -> bool:
    """Whether ``DIPSTICK_SECRET_KEY`` is set (the server warns when it is not)."""
    return settings().secret_key is not None
