"""The pulse-check tables (migration 0005): campaigns, invitations, answers, open-link uses and
schedules.

Privacy is in the schema: an answer row has no column that points to an invitation, an e-mail
or a browser, and it keeps only the day it was given (an exact time could be matched against
the moment an invitation was marked used). An invitation keeps only *whether* it was answered.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

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

    __tablename__ = "pulse_campaigns"
    __table_args__ = (UniqueConstraint("open_token_hash"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organisation: Mapped[str] = mapped_column(Text)
    service_id: Mapped[str] = mapped_column(Text, index=True)
    service_name: Mapped[str] = mapped_column(Text)
    groups: Mapped[list[str]] = mapped_column(JSON)
    questions: Mapped[dict[str, Any]] = mapped_column(JSON)
    source: Mapped[str] = mapped_column(String(16))          # pulse | import
    package: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(Text)
    closes_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    open_token_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    open_group: Mapped[str | None] = mapped_column(Text, nullable=True)
    schedule_id: Mapped[int | None] = mapped_column(
        ForeignKey("pulse_schedules.id", ondelete="SET NULL"), nullable=True)


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

    __tablename__ = "pulse_answers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("pulse_campaigns.id", ondelete="CASCADE"), index=True)
    group_id: Mapped[str] = mapped_column(Text)
    answered_on: Mapped[date] = mapped_column(Date)
    scores: Mapped[dict[str, float]] = mapped_column(JSON)
    recommend: Mapped[int | None] = mapped_column(Integer, nullable=True)
    comment: Mapped[str | None] = mapped_column(Text, nullable=True)


class PulseOpenUse(Base):
    """A browser that answered an open link (the SHA-256 of its random cookie), so the same
    browser cannot answer twice; nothing ties it to the answer it gave."""

    __tablename__ = "pulse_open_uses"
    __table_args__ = (UniqueConstraint("campaign_id", "browser_hash"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("pulse_campaigns.id", ondelete="CASCADE"))
    browser_hash: Mapped[str] = mapped_column(String(64))
