"""Access that can end (issue 17): API tokens get an expiry and a revocation time; users get
where they sign in (an OpenID Connect subject, none for local passwords).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ADD COLUMNs and a unique *index*, no batch table copy: on SQLite a copy drops and
    # re-creates ``users``, and with foreign keys on that DROP cascades to every session and
    # token (tests/test_access.py::test_users_and_tokens_made_before_migration_0012_...).
    # Tokens made before this revision keep working (no expiry) until revoked.
    op.add_column("api_tokens",
                  sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("api_tokens",
                  sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("users", sa.Column("oidc_subject", sa.Text(), nullable=True))
    op.create_index(op.f("ix_users_oidc_subject"), "users", ["oidc_subject"], unique=True)


def downgrade() -> None:   # native DROP COLUMN (SQLite 3.35+), no table copy, as above
    op.drop_index(op.f("ix_users_oidc_subject"), table_name="users")
    op.drop_column("users", "oidc_subject")
    op.drop_column("api_tokens", "revoked_at")
    op.drop_column("api_tokens", "expires_at")
