"""The pulse-check tables (migration 0005): campaigns, invitations, answers, open-link uses and
schedules. Campaigns and answers, which every stored check reads, are defined as Core tables in
:mod:`~dipstick.store.core` and mapped here as they are.

Privacy is in the schema: an answer row has no column that points to an invitation, an e-mail
or a browser, and it keeps only the day it was given (an exact time could be matched against
the moment an invitation was marked used). An invitation keeps only *whether* it was answered.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from dipstick.store import core
from dipstick.store.schema import Base, UTCDateTime


class PulseSchedule(Base):
    """A recurring check-in of a service's groups: every ``every_days``, open ``open_days``."""

    __tablename__ = "pulse_schedules"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organisation: Mapped[str] = mapped_column(Text)
    service_id: Mapped[str] = mapped_column(Text)
    groups: Mapped[list[str]] = mapped_column(JSON)
    every_days: Mapped[int] = mapped_column(Integer)
    open_days: Mapped[int] = mapped_column(Integer)
    next_on: Mapped[date] = mapped_column(Date)
    package: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class PulseCampaign(Base):
    """One check-in of one service with one or more consuming groups; ``questions`` is the
    groups' value dimensions as they were when it started (the model may change later)."""

    __table__ = core.pulse_campaigns

    id: Mapped[int]
    organisation: Mapped[str]
    service_id: Mapped[str]
    service_name: Mapped[str]
    groups: Mapped[list[str]]
    questions: Mapped[dict[str, Any]]
    source: Mapped[str]   # pulse | import
    package: Mapped[str | None]
    created_at: Mapped[datetime]
    created_by: Mapped[str]
    closes_on: Mapped[date | None]
    open_token_hash: Mapped[str | None]
    open_group: Mapped[str | None]
    schedule_id: Mapped[int | None]


class PulseInvitation(Base):
    """One invitee's single-use link: only the SHA-256 of its token is kept."""

    __tablename__ = "pulse_invitations"
    __table_args__ = (UniqueConstraint("token_hash"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("pulse_campaigns.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64))
    email: Mapped[str | None] = mapped_column(Text, nullable=True)
    group_id: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    answered: Mapped[bool] = mapped_column(Boolean, default=False)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class PulseAnswer(Base):
    """One person's answer, de-identified: scores per dimension, recommend, comment, day."""

    __table__ = core.pulse_answers

    id: Mapped[int]
    campaign_id: Mapped[int]
    group_id: Mapped[str]
    answered_on: Mapped[date]
    scores: Mapped[dict[str, float]]
    recommend: Mapped[int | None]
    comment: Mapped[str | None]


class PulseOpenUse(Base):
    """A browser that answered an open link (the SHA-256 of its random cookie), so the same
    browser cannot answer twice; nothing ties it to the answer it gave."""

    __tablename__ = "pulse_open_uses"
    __table_args__ = (UniqueConstraint("campaign_id", "browser_hash"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("pulse_campaigns.id", ondelete="CASCADE"))
    browser_hash: Mapped[str] = mapped_column(String(64))
