"""Self-assessment (issue 14, item 4): a finding says what it rests on (``basis``: measured or
self-assessed), and the answers given on the web are kept with who gave them and when.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("findings") as batch:
        batch.add_column(sa.Column("basis", sa.Text(), nullable=False,
                                   server_default="measured"))
    op.create_table(
        "self_assessment_answers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organisation", sa.Text(), nullable=False),
        sa.Column("service_id", sa.Text(), nullable=False),
        sa.Column("cause", sa.Text(), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("answer", sa.Integer(), nullable=False),
        sa.Column("answered_by", sa.Text(), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("answer BETWEEN 1 AND 5",
                           name=op.f("ck_self_assessment_answers_answer")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_self_assessment_answers")),
    )
    op.create_index("ix_self_assessment_answers_org_service", "self_assessment_answers",
                    ["organisation", "service_id"])


def downgrade() -> None:
    op.drop_index("ix_self_assessment_answers_org_service", "self_assessment_answers")
    op.drop_table("self_assessment_answers")
    with op.batch_alter_table("findings") as batch:
        batch.drop_column("basis")
