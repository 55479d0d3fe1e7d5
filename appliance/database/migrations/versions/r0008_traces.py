"""Tables for spans (traces recorded by the agent and received over OTLP).

``spans``: one row per span, keyed by (trace_id, span_id); indexed by start time (recent
traces, pruning by age) and by service and start time (a service's traces and performance).
Downgrading drops the table and its spans.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29
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
    op.create_table(
        "spans",
        sa.Column("trace_id", sa.Text(), primary_key=True),
        sa.Column("span_id", sa.Text(), primary_key=True),
        sa.Column("parent_id", sa.Text()),
        sa.Column("service", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("start_s", sa.DOUBLE_PRECISION(), nullable=False),
        sa.Column("end_s", sa.DOUBLE_PRECISION(), nullable=False),
        sa.Column("duration_ms", sa.DOUBLE_PRECISION(), nullable=False),
        sa.Column("error", sa.Integer(), nullable=False),
        sa.Column("status_message", sa.Text(), nullable=False),
        sa.Column("attributes", sa.Text(), nullable=False),
        sa.Column("events", sa.Text(), nullable=False),
    )
    op.create_index("ix_spans_start_s", "spans", ["start_s"])
    op.create_index("ix_spans_service_start_s", "spans", ["service", "start_s"])


def downgrade() -> None:
    op.drop_index("ix_spans_service_start_s", table_name="spans")
    op.drop_index("ix_spans_start_s", table_name="spans")
    op.drop_table("spans")
