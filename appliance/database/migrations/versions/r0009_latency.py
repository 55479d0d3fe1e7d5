"""Tables for the end-to-end latency monitor's probes.

``latency_probes``: one row per probe event committed by the agent's probe handler
(appliance/brokermon/latency.py), pruned by age and count. Downgrading drops it with its rows
(probes only: nothing else refers to them).

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29
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
    op.create_table(
        "latency_probes",
        sa.Column("probe_id", sa.Text(), nullable=False),
        sa.Column("agent", sa.Text(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("published_at", sa.DOUBLE_PRECISION(), nullable=False),
        sa.Column("received_at", sa.DOUBLE_PRECISION(), nullable=False),
        sa.PrimaryKeyConstraint("probe_id", name="latency_probes_pkey"),
    )
    op.create_index("ix_latency_probes_published_at", "latency_probes", ["published_at"])


def downgrade() -> None:
    op.drop_index("ix_latency_probes_published_at", table_name="latency_probes")
    op.drop_table("latency_probes")
