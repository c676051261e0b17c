"""Episodes (issue 13): a finding may be the symptom of another cause's leak (``symptom_of``)
and carries its episode's one-line story; a service result keeps its episodes as JSON.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("findings") as batch:
        batch.add_column(sa.Column("symptom_of", sa.Text(), nullable=True))
        batch.add_column(sa.Column("episode", sa.Text(), nullable=False, server_default=""))
    with op.batch_alter_table("service_results") as batch:
        batch.add_column(sa.Column("episodes", sa.JSON(), nullable=False,
                                   server_default="[]"))


def downgrade() -> None:
    with op.batch_alter_table("service_results") as batch:
        batch.drop_column("episodes")
    with op.batch_alter_table("findings") as batch:
        batch.drop_column("episode")
        batch.drop_column("symptom_of")
