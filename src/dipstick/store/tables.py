"""The app database's mapped classes: one row per check run, per service verdict and per
finding, and the web's users, alerts and actions.

Types are the portable subset of SQLite and PostgreSQL: ``Text`` rather than sized strings (so
both accept the same values), ``Double`` for exact float round-trips, ``JSON`` for evidence, and
UTC timestamps that stay timezone-aware on SQLite too. Constraint names come from a naming
convention so the hand-written migrations name them the same on every backend. The tables a
stored check uses are defined once in :mod:`~dipstick.store.core` (Core, no ORM: a check stores
without importing the ORM) and mapped here as they are; the annotations type their attributes.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from dipstick.store import core
from dipstick.store.schema import Base, UTCDateTime

STATUSES = ("ok", "watch", "leak", "unknown")   # a service's light
# a cause's status may also be n/a: it cannot apply to the service (migration 0006)
FINDING_STATUSES = (*STATUSES, "n/a")


class Run(Base):
    """One ``dipstick check``: when, over what, and the totals the run list shows."""

    __table__ = core.runs

    id: Mapped[int]
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime]
    command: Mapped[str]
    json_schema: Mapped[str]
    organisation: Mapped[str]
    package: Mapped[str]
    currency: Mapped[str]
    hourly_rate: Mapped[float]
    as_of: Mapped[date]
    window_days: Mapped[int]
    baseline_days: Mapped[int]
    causes: Mapped[list[str]]
    services_count: Mapped[int]
    ok_count: Mapped[int]
    watch_count: Mapped[int]
    leak_count: Mapped[int]
    unknown_count: Mapped[int]
    leak_money: Mapped[float]
    leak_hours: Mapped[float]
    # why this as-of date, and each table's window and baseline (migration 0008)
    as_of_reason: Mapped[str]
    coverage: Mapped[list[dict[str, Any]]]

    services: Mapped[list[ServiceResult]] = relationship(
        back_populates="run", order_by="ServiceResult.position",
        cascade="all, delete-orphan", passive_deletes=True)


class ServiceResult(Base):
    """A service's headline in one run: its light (worst cause) and its largest leak."""

    __table__ = core.service_results

    id: Mapped[int]
    run_id: Mapped[int]
    position: Mapped[int]
    service_id: Mapped[str]
    name: Mapped[str]
    owner: Mapped[str | None]
    lifecycle: Mapped[str]
    status: Mapped[str]
    score: Mapped[float]
    leak_money: Mapped[float]
    leak_hours: Mapped[float]
    leak_cause: Mapped[str | None]
    leak_formula: Mapped[str]
    leak_low: Mapped[float | None]   # 0006
    leak_high: Mapped[float | None]
    # one per leak that is a root: ``Episode.to_json`` (migration 0007)
    episodes: Mapped[list[dict[str, Any]]]

    run: Mapped[Run] = relationship(back_populates="services")
    findings: Mapped[list[FindingRow]] = relationship(
        back_populates="service", order_by="FindingRow.position",
        cascade="all, delete-orphan", passive_deletes=True)


class FindingRow(Base):
    """One cause's verdict on one service in one run, with its evidence as JSON."""

    __table__ = core.findings

    id: Mapped[int]
    service_result_id: Mapped[int]
    position: Mapped[int]
    cause: Mapped[str]
    status: Mapped[str]
    score: Mapped[float]
    summary: Mapped[str]
    leak_money: Mapped[float]
    leak_hours: Mapped[float]
    leak_formula: Mapped[str]
    action: Mapped[str]
    evidence: Mapped[list[dict[str, Any]]]
    since: Mapped[date | None]
    leak_low: Mapped[float | None]   # 0006
    leak_high: Mapped[float | None]
    symptom_of: Mapped[str | None]   # migration 0007
    episode: Mapped[str]
    coverage: Mapped[list[dict[str, Any]]]
    # measured | self-assessed (migration 0009)
    basis: Mapped[str]

    service: Mapped[ServiceResult] = relationship(back_populates="findings")


class SelfAssessmentAnswer(Base):
    """One answer to the day-one questionnaire given on the web (migration 0009): who, when,
    about which service, cause and question. Rows are never updated: the newest answer to a
    question counts, the older ones are its history."""

    __table__ = core.self_assessment_answers

    id: Mapped[int]
    organisation: Mapped[str]
    service_id: Mapped[str]
    cause: Mapped[str]
    question: Mapped[str]
    answer: Mapped[int]
    answered_by: Mapped[str]
    answered_at: Mapped[datetime]


# -- alerts (migration 0003) -----------------------------------------------------------------
ALERT_KIND_CHECK = "kind IN ('leak', 'resolved', 'overdue')"   # overdue: pulse (0005)
DELIVERY_STATUS_CHECK = "status IN ('pending', 'sending', 'sent')"


class AlertEvent(Base):
    """A leak that began or ended, once: the alert log is the state ("which leaks are open"),
    so no two runs can disagree about what was already announced. ``episode`` numbers the
    leaks of one (organisation, service, cause); the unique key makes a second announcement of
    the same episode impossible, even from two runs at once."""

    __tablename__ = "alert_events"
    __table_args__ = (
        UniqueConstraint("organisation", "service_id", "cause", "episode", "kind"),
        CheckConstraint(ALERT_KIND_CHECK, name="kind"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    organisation: Mapped[str] = mapped_column(Text)
    service_id: Mapped[str] = mapped_column(Text)
    cause: Mapped[str] = mapped_column(Text)
    episode: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))
    details: Mapped[dict[str, Any]] = mapped_column(JSON)

    deliveries: Mapped[list[AlertDelivery]] = relationship(
        back_populates="event", order_by="AlertDelivery.id",
        cascade="all, delete-orphan", passive_deletes=True)


class AlertDelivery(Base):
    """One event to one configured target: pending until the receiver took it, then sent."""

    __tablename__ = "alert_deliveries"
    __table_args__ = (
        UniqueConstraint("event_id", "target"),
        Index("ix_alert_deliveries_status_id", "status", "id"),
        CheckConstraint(DELIVERY_STATUS_CHECK, name="status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("alert_events.id", ondelete="CASCADE"))
    target: Mapped[str] = mapped_column(Text)
    target_type: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    event: Mapped[AlertEvent] = relationship(back_populates="deliveries")


ROLE_CHECK = "role IN ('admin', 'leader', 'owner', 'viewer')"


class User(Base):
    """A person who signs in to the web app. An owner acts on the services whose ``owner`` in
    dipstick.yaml is their e-mail address."""

    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("email"), CheckConstraint(ROLE_CHECK, name="role"),
                      Index("ix_users_oidc_subject", "oidc_subject", unique=True))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(Text)
    name: Mapped[str] = mapped_column(Text)
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(Text)   # "": no local password (OIDC only)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    active: Mapped[bool] = mapped_column(default=True)   # False: disabled (migration 0012)
    # the identity provider's ``sub`` once they signed in through it (migration 0012)
    oidc_subject: Mapped[str | None] = mapped_column(Text, nullable=True)

    tokens: Mapped[list[ApiToken]] = relationship(
        back_populates="user", cascade="all, delete-orphan", passive_deletes=True)


class WebSession(Base):
    """One sign-in. The signed cookie names it; sign-out ends it here, so a copy of the cookie
    (stolen, or left on a shared machine) stops working too — a signed cookie alone cannot be
    taken back."""

    __tablename__ = "web_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class ApiToken(Base):
    """A bearer token for the JSON API: only its SHA-256 is kept (tokens are 256-bit random, so
    a fast hash is enough; a slow one is for guessable passwords)."""

    __tablename__ = "api_tokens"
    __table_args__ = (UniqueConstraint("token_hash"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(Text)
    token_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # None: never expires / not revoked (migration 0012)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    user: Mapped[User] = relationship(back_populates="tokens")


# -- actions on leaks (migration 0010) -------------------------------------------------------
class ActionRow(Base):
    """An action on one leak (organisation, service, root cause): who, by when, the saving
    expected (the leak's estimate when it was created, JSON) and where it stands. ``run_id``
    names the check the leak was read from (no foreign key: the action outlives a pruned run)."""

    __table__ = core.actions

    id: Mapped[int]
    organisation: Mapped[str]
    service_id: Mapped[str]
    cause: Mapped[str]
    run_id: Mapped[int]
    owner: Mapped[str]
    due: Mapped[date | None]
    status: Mapped[str]
    reason: Mapped[str | None]   # why dismissed
    note: Mapped[str | None]
    done_on: Mapped[date | None]
    dismissed_on: Mapped[date | None]
    expected: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]
    created_by: Mapped[str]
    updated_at: Mapped[datetime]

    changes: Mapped[list[ActionChange]] = relationship(
        back_populates="action", order_by="ActionChange.id",
        cascade="all, delete-orphan", passive_deletes=True)


class ActionChange(Base):
    """One change of an action: who, when, and each field's old and new value. Never updated:
    the rows are the action's history."""

    __tablename__ = "action_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    action_id: Mapped[int] = mapped_column(ForeignKey("actions.id", ondelete="CASCADE"),
                                           index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    by: Mapped[str] = mapped_column(Text)
    changes: Mapped[dict[str, Any]] = mapped_column(JSON)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)

    action: Mapped[ActionRow] = relationship(back_populates="changes")


# -- what the pages need beyond the rows (migration 0011) ------------------------------------
class RunExtras(Base):
    """A run's context for the pages (value model, trend series, stream and journey maps,
    surveys, run costs: ``dipstick.runs.RunContext``), written with the run so that no page
    re-checks its package. ``body``: the context pickled (protocol 5) and zlib-compressed,
    read back by a restricted unpickler (:mod:`dipstick.store.extras`); ``format`` and
    ``dipstick`` (the version that wrote it) say whether this dipstick can read it."""

    __table__ = core.run_extras

    run_id: Mapped[int]
    format: Mapped[int]
    dipstick: Mapped[str]
    body: Mapped[bytes]


# -- the audit trail (migration 0013) --------------------------------------------------------
class AuditEntry(Base):
    """Who did what, when and from where (:mod:`dipstick.store.audit`): a sign-in, an upload,
    a check, a change of an action or a user. Never updated; deleted only when older than
    ``DIPSTICK_AUDIT_DAYS``. ``detail`` is a small JSON object, never a password or token."""

    __table__ = core.audit_log

    id: Mapped[int]
    at: Mapped[datetime]
    actor: Mapped[str]   # an e-mail, or the OS user for the CLI
    source: Mapped[str]   # the client's address, or "cli"
    action: Mapped[str]
    target: Mapped[str]
    detail: Mapped[dict[str, Any]]
