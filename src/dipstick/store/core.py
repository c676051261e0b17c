"""The tables a stored check reads and writes, as SQLAlchemy Core ``Table`` objects: the one
definition of their columns, which the ORM classes (:mod:`~dipstick.store.tables`,
:mod:`~dipstick.store.pulse_tables`) map as they are (``__table__``).

Why Core here: ``dipstick check`` stores its run — reading the stored pulse answers and
self-assessments, writing the run, its rows, its context and an audit entry, looking for a done
action to settle — with Core statements only, and importing SQLAlchemy's ORM and declaring the
mapped classes cost ~0.2 s of CPU of every stored check (issue 16, session 14). This module
imports no ORM; tests/test_startup.py keeps the stored check's path free of it.

Types are the portable subset of SQLite and PostgreSQL: ``Text`` rather than sized strings (so
both accept the same values), ``Double`` for exact float round-trips, ``JSON`` for evidence, and
UTC timestamps that stay timezone-aware on SQLite too. Constraint names come from a naming
convention so the hand-written migrations name them the same on every backend. Every column is
spelled ``nullable`` as the mapped classes had it (tests/test_store.py compares the whole
metadata with the migrations).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    Dialect,
    Double,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
METADATA = MetaData(naming_convention=NAMING)   # every app table's, mapped or not

STATUS_CHECK = "status IN ('ok', 'watch', 'leak', 'unknown')"
# a cause's status may also be n/a: it cannot apply to the service (migration 0006)
FINDING_STATUS_CHECK = "status IN ('ok', 'watch', 'leak', 'unknown', 'n/a')"
ACTION_STATUS_CHECK = "status IN ('proposed', 'in progress', 'done', 'dismissed')"


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware timestamp stored in UTC. SQLite keeps no offset, so values are written
    as naive UTC there and read back as aware UTC; naive input is refused, not guessed."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive timestamp {value.isoformat()}: pass a timezone-aware one")
        utc = value.astimezone(UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _id() -> Column[int]:
    return Column("id", Integer, primary_key=True)


def _req(name: str, kind: Any, *args: Any, **kw: Any) -> Column[Any]:
    """A column that must hold a value (the mapped classes' ``Mapped[X]``, not ``X | None``):
    Core's own default is nullable, the ORM's follows the annotation."""
    return Column(name, kind, *args, nullable=False, **kw)


def _opt(name: str, kind: Any, *args: Any) -> Column[Any]:
    return Column(name, kind, *args, nullable=True)


# -- a check's run (migrations 0001–0009) ----------------------------------------------------
runs = Table(
    "runs", METADATA, _id(),
    _req("started_at", UTCDateTime(), index=True), _req("finished_at", UTCDateTime()),
    _req("command", Text), _req("json_schema", Text), _req("organisation", Text),
    _req("package", Text), _req("currency", Text), _req("hourly_rate", Double),
    _req("as_of", Date, index=True), _req("window_days", Integer),
    _req("baseline_days", Integer), _req("causes", JSON), _req("services_count", Integer),
    _req("ok_count", Integer), _req("watch_count", Integer), _req("leak_count", Integer),
    _req("unknown_count", Integer), _req("leak_money", Double), _req("leak_hours", Double),
    # why this as-of date, and each table's window and baseline (migration 0008)
    _req("as_of_reason", Text, default="", server_default=""),
    _req("coverage", JSON, default=list, server_default="[]"),
)

service_results = Table(
    "service_results", METADATA, _id(),
    _req("run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE")),
    _req("position", Integer), _req("service_id", Text), _req("name", Text),
    _opt("owner", Text), _req("lifecycle", Text), _req("status", String(16)),
    _req("score", Double), _req("leak_money", Double), _req("leak_hours", Double),
    _opt("leak_cause", Text), _req("leak_formula", Text),
    _opt("leak_low", Double), _opt("leak_high", Double),   # 0006
    # one per leak that is a root: ``Episode.to_json`` (migration 0007)
    _req("episodes", JSON, default=list, server_default="[]"),
    UniqueConstraint("run_id", "service_id"),
    Index("ix_service_results_service_id_run_id", "service_id", "run_id"),
    CheckConstraint(STATUS_CHECK, name="status"),
)

findings = Table(
    "findings", METADATA, _id(),
    _req("service_result_id", Integer,
         ForeignKey("service_results.id", ondelete="CASCADE")),
    _req("position", Integer), _req("cause", Text), _req("status", String(16)),
    _req("score", Double), _req("summary", Text), _req("leak_money", Double),
    _req("leak_hours", Double), _req("leak_formula", Text), _req("action", Text),
    _req("evidence", JSON), _opt("since", Date),
    _opt("leak_low", Double), _opt("leak_high", Double),   # 0006
    _opt("symptom_of", Text),                               # 0007
    _req("episode", Text, default="", server_default=""),
    _req("coverage", JSON, default=list, server_default="[]"),   # 0008
    # measured | self-assessed (migration 0009)
    _req("basis", Text, default="measured", server_default="measured"),
    UniqueConstraint("service_result_id", "cause"),
    CheckConstraint(FINDING_STATUS_CHECK, name="status"),
)

self_assessment_answers = Table(
    "self_assessment_answers", METADATA, _id(),
    _req("organisation", Text), _req("service_id", Text), _req("cause", Text),
    _req("question", Text), _req("answer", Integer), _req("answered_by", Text),
    _req("answered_at", UTCDateTime()),
    Index("ix_self_assessment_answers_org_service", "organisation", "service_id"),
    CheckConstraint("answer BETWEEN 1 AND 5", name="answer"),
)

# -- actions on leaks (migration 0010): a stored check looks for a done one to settle --------
actions = Table(
    "actions", METADATA, _id(),
    _req("organisation", Text), _req("service_id", Text), _req("cause", Text),
    _req("run_id", Integer), _req("owner", Text), _opt("due", Date),
    _req("status", String(16)), _opt("reason", Text), _opt("note", Text),
    _opt("done_on", Date), _opt("dismissed_on", Date), _req("expected", JSON),
    _req("created_at", UTCDateTime()), _req("created_by", Text),
    _req("updated_at", UTCDateTime()),
    Index("ix_actions_org_service_cause", "organisation", "service_id", "cause"),
    CheckConstraint(ACTION_STATUS_CHECK, name="status"),
)

# -- what the pages need beyond the rows (migration 0011) ------------------------------------
run_extras = Table(
    "run_extras", METADATA,
    Column("run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    _req("format", Integer), _req("dipstick", Text), _req("body", LargeBinary),
)

# -- the audit trail (migration 0013) --------------------------------------------------------
audit_log = Table(
    "audit_log", METADATA, _id(),
    _req("at", UTCDateTime(), index=True),
    _req("actor", Text),    # an e-mail, or the OS user for the CLI
    _req("source", Text),   # the client's address, or "cli"
    _req("action", Text, index=True), _req("target", Text), _req("detail", JSON),
    Index("ix_audit_log_actor_at", "actor", "at"),
)

# -- pulse check-ins and their answers (migration 0005), read into every stored check --------
pulse_campaigns = Table(
    "pulse_campaigns", METADATA, _id(),
    _req("organisation", Text), _req("service_id", Text, index=True),
    _req("service_name", Text), _req("groups", JSON), _req("questions", JSON),
    _req("source", String(16)),   # pulse | import
    _opt("package", Text), _req("created_at", UTCDateTime()), _req("created_by", Text),
    _opt("closes_on", Date), _opt("open_token_hash", String(64)), _opt("open_group", Text),
    _opt("schedule_id", Integer, ForeignKey("pulse_schedules.id", ondelete="SET NULL")),
    UniqueConstraint("open_token_hash"),
)

pulse_answers = Table(
    "pulse_answers", METADATA, _id(),
    _req("campaign_id", Integer, ForeignKey("pulse_campaigns.id", ondelete="CASCADE"),
         index=True),
    _req("group_id", Text), _req("answered_on", Date), _req("scores", JSON),
    _opt("recommend", Integer), _opt("comment", Text),
)
