"""Findings may be ``n/a`` (the cause cannot apply); leak estimates get a low–high range
(issue 13). Evidence's sample size, interval, p and q live in the evidence JSON: no column.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-08
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD = "status IN ('ok', 'watch', 'leak', 'unknown')"
NEW = "status IN ('ok', 'watch', 'leak', 'unknown', 'n/a')"


def upgrade() -> None:
    with op.batch_alter_table("findings") as batch:
        batch.drop_constraint(op.f("ck_findings_status"), type_="check")
        batch.create_check_constraint(op.f("ck_findings_status"), NEW)
        batch.add_column(sa.Column("leak_low", sa.Double(), nullable=True))
        batch.add_column(sa.Column("leak_high", sa.Double(), nullable=True))
    with op.batch_alter_table("service_results") as batch:
        batch.add_column(sa.Column("leak_low", sa.Double(), nullable=True))
        batch.add_column(sa.Column("leak_high", sa.Double(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("service_results") as batch:
        batch.drop_column("leak_high")
        batch.drop_column("leak_low")
    op.execute("UPDATE findings SET status = 'unknown' WHERE status = 'n/a'")
    with op.batch_alter_table("findings") as batch:
        batch.drop_column("leak_high")
        batch.drop_column("leak_low")
        batch.drop_constraint(op.f("ck_findings_status"), type_="check")
        batch.create_check_constraint(op.f("ck_findings_status"), OLD)
