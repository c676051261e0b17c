"""Run extras (issue 16): what the pages need beyond a run's rows — value model, trend series,
stream and journey maps, surveys, run costs — stored with the run, so no page re-checks its
data package after a restart.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "run_extras",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("format", sa.Integer(), nullable=False),
        sa.Column("dipstick", sa.Text(), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], ondelete="CASCADE",
                                name=op.f("fk_run_extras_run_id_runs")),
        sa.PrimaryKeyConstraint("run_id", name=op.f("pk_run_extras")),
    )


def downgrade() -> None:
    op.drop_table("run_extras")
