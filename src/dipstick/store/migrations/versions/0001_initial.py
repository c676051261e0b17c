"""Initial tables: runs, service_results, findings.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATUS_CHECK = "status IN ('ok', 'watch', 'leak', 'unknown')"


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("command", sa.Text(), nullable=False),
        sa.Column("json_schema", sa.Text(), nullable=False),
        sa.Column("organisation", sa.Text(), nullable=False),
        sa.Column("package", sa.Text(), nullable=False),
        sa.Column("currency", sa.Text(), nullable=False),
        sa.Column("hourly_rate", sa.Double(), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("window_days", sa.Integer(), nullable=False),
        sa.Column("baseline_days", sa.Integer(), nullable=False),
        sa.Column("causes", sa.JSON(), nullable=False),
        sa.Column("services_count", sa.Integer(), nullable=False),
        sa.Column("ok_count", sa.Integer(), nullable=False),
        sa.Column("watch_count", sa.Integer(), nullable=False),
        sa.Column("leak_count", sa.Integer(), nullable=False),
        sa.Column("unknown_count", sa.Integer(), nullable=False),
        sa.Column("leak_money", sa.Double(), nullable=False),
        sa.Column("leak_hours", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_runs")),
    )
    op.create_index(op.f("ix_runs_started_at"), "runs", ["started_at"])
    op.create_index(op.f("ix_runs_as_of"), "runs", ["as_of"])

    op.create_table(
        "service_results",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("service_id", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("owner", sa.Text(), nullable=True),
        sa.Column("lifecycle", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("score", sa.Double(), nullable=False),
        sa.Column("leak_money", sa.Double(), nullable=False),
        sa.Column("leak_hours", sa.Double(), nullable=False),
        sa.Column("leak_cause", sa.Text(), nullable=True),
        sa.Column("leak_formula", sa.Text(), nullable=False),
        sa.CheckConstraint(STATUS_CHECK, name=op.f("ck_service_results_status")),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], ondelete="CASCADE",
                                name=op.f("fk_service_results_run_id_runs")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_results")),
        sa.UniqueConstraint("run_id", "service_id",
                            name=op.f("uq_service_results_run_id_service_id")),
    )
    op.create_index(op.f("ix_service_results_service_id_run_id"), "service_results",
                    ["service_id", "run_id"])

    op.create_table(
        "findings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("service_result_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("cause", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("score", sa.Double(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("leak_money", sa.Double(), nullable=False),
        sa.Column("leak_hours", sa.Double(), nullable=False),
        sa.Column("leak_formula", sa.Text(), nullable=False),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.CheckConstraint(STATUS_CHECK, name=op.f("ck_findings_status")),
        sa.ForeignKeyConstraint(["service_result_id"], ["service_results.id"],
                                ondelete="CASCADE",
                                name=op.f("fk_findings_service_result_id_service_results")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_findings")),
        sa.UniqueConstraint("service_result_id", "cause",
                            name=op.f("uq_findings_service_result_id_cause")),
    )


def downgrade() -> None:
    op.drop_table("findings")
    op.drop_index(op.f("ix_service_results_service_id_run_id"), table_name="service_results")
    op.drop_table("service_results")
    op.drop_index(op.f("ix_runs_as_of"), table_name="runs")
    op.drop_index(op.f("ix_runs_started_at"), table_name="runs")
    op.drop_table("runs")
