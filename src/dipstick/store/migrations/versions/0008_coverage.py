"""Coverage (issue 14): a run keeps why its as-of date was chosen and what each table held in
its window and baseline; a finding keeps what it judged (its service's rows per table).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("as_of_reason", sa.Text(), nullable=False,
                                   server_default=""))
        batch.add_column(sa.Column("coverage", sa.JSON(), nullable=False, server_default="[]"))
    with op.batch_alter_table("findings") as batch:
        batch.add_column(sa.Column("coverage", sa.JSON(), nullable=False, server_default="[]"))


def downgrade() -> None:
    with op.batch_alter_table("findings") as batch:
        batch.drop_column("coverage")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("coverage")
        batch.drop_column("as_of_reason")
