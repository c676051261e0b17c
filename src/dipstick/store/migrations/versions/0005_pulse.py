"""Pulse checks: schedules, campaigns, invitations (hashed single-use tokens), de-identified
answers and open-link uses; alert events gain the ``overdue`` kind (a check-in overdue).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "pulse_schedules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organisation", sa.Text(), nullable=False),
        sa.Column("service_id", sa.Text(), nullable=False),
        sa.Column("groups", sa.JSON(), nullable=False),
        sa.Column("every_days", sa.Integer(), nullable=False),
        sa.Column("open_days", sa.Integer(), nullable=False),
        sa.Column("next_on", sa.Date(), nullable=False),
        sa.Column("package", sa.Text(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("created_by", sa.Text(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pulse_schedules")),
    )
    op.create_table(
        "pulse_campaigns",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organisation", sa.Text(), nullable=False),
        sa.Column("service_id", sa.Text(), nullable=False),
        sa.Column("service_name", sa.Text(), nullable=False),
        sa.Column("groups", sa.JSON(), nullable=False),
        sa.Column("questions", sa.JSON(), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("package", sa.Text(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("created_by", sa.Text(), nullable=False),
        sa.Column("closes_on", sa.Date(), nullable=True),
        sa.Column("open_token_hash", sa.String(64), nullable=True),
        sa.Column("open_group", sa.Text(), nullable=True),
        sa.Column("schedule_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["schedule_id"], ["pulse_schedules.id"], ondelete="SET NULL",
                                name=op.f("fk_pulse_campaigns_schedule_id_pulse_schedules")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pulse_campaigns")),
        sa.UniqueConstraint("open_token_hash", name=op.f("uq_pulse_campaigns_open_token_hash")),
    )
    op.create_index(op.f("ix_pulse_campaigns_service_id"), "pulse_campaigns", ["service_id"])
    op.create_table(
        "pulse_invitations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("email", sa.Text(), nullable=True),
        sa.Column("group_id", sa.Text(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("answered", sa.Boolean(), nullable=False),
        sa.Column("sent_at", TS, nullable=True),
        sa.Column("reminded_at", TS, nullable=True),
        sa.ForeignKeyConstraint(["campaign_id"], ["pulse_campaigns.id"], ondelete="CASCADE",
                                name=op.f("fk_pulse_invitations_campaign_id_pulse_campaigns")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pulse_invitations")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_pulse_invitations_token_hash")),
    )
    op.create_index(op.f("ix_pulse_invitations_campaign_id"), "pulse_invitations",
                    ["campaign_id"])
    op.create_table(
        "pulse_answers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("group_id", sa.Text(), nullable=False),
        sa.Column("answered_on", sa.Date(), nullable=False),
        sa.Column("scores", sa.JSON(), nullable=False),
        sa.Column("recommend", sa.Integer(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["campaign_id"], ["pulse_campaigns.id"], ondelete="CASCADE",
                                name=op.f("fk_pulse_answers_campaign_id_pulse_campaigns")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pulse_answers")),
    )
    op.create_index(op.f("ix_pulse_answers_campaign_id"), "pulse_answers", ["campaign_id"])
    op.create_table(
        "pulse_open_uses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("browser_hash", sa.String(64), nullable=False),
        sa.ForeignKeyConstraint(["campaign_id"], ["pulse_campaigns.id"], ondelete="CASCADE",
                                name=op.f("fk_pulse_open_uses_campaign_id_pulse_campaigns")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pulse_open_uses")),
        sa.UniqueConstraint("campaign_id", "browser_hash",
                            name=op.f("uq_pulse_open_uses_campaign_id_browser_hash")),
    )
    with op.batch_alter_table("alert_events") as batch:
        batch.drop_constraint(op.f("ck_alert_events_kind"), type_="check")
        batch.create_check_constraint(op.f("ck_alert_events_kind"),
                                      "kind IN ('leak', 'resolved', 'overdue')")


def downgrade() -> None:
    with op.batch_alter_table("alert_events") as batch:
        batch.drop_constraint(op.f("ck_alert_events_kind"), type_="check")
        batch.create_check_constraint(op.f("ck_alert_events_kind"), "kind IN ('leak', 'resolved')")
    op.drop_table("pulse_open_uses")
    op.drop_index(op.f("ix_pulse_answers_campaign_id"), table_name="pulse_answers")
    op.drop_table("pulse_answers")
    op.drop_index(op.f("ix_pulse_invitations_campaign_id"), table_name="pulse_invitations")
    op.drop_table("pulse_invitations")
    op.drop_index(op.f("ix_pulse_campaigns_service_id"), table_name="pulse_campaigns")
    op.drop_table("pulse_campaigns")
    op.drop_table("pulse_schedules")
