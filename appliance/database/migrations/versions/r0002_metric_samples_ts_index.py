"""Index metric_samples on ts alone, for prune.

Prune deletes by age across every metric, which the (name, ts) index cannot serve: without
this each prune read the whole table (a week of samples).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_metric_samples_ts", "metric_samples", ["ts"])


def downgrade() -> None:
    op.drop_index("ix_metric_samples_ts", table_name="metric_samples")
