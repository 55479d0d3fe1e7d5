"""The alert dispatcher's durable state: alerts as it last heard of them, groups with what
they last sent, and silences.

``alert_dispatch``: one row per alert fingerprint (labels, status, when it arrived, who
acknowledged it, the escalation step reached). ``alert_groups``: per route and grouping
labels, when the group started, when it last notified and which firing alerts it named, so a
restarted agent neither repeats early nor forgets a resolve it owes. ``silences``: matchers,
start, end, author and comment.

Downgrading drops them, with their rows: silences and acknowledgements are lost.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "alert_dispatch",
        sa.Column("fingerprint", sa.Text(), nullable=False),
        sa.Column("labels", sa.Text(), nullable=False),
        sa.Column("annotations", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("severity", sa.Text(), nullable=False),
        sa.Column("starts_at", sa.DOUBLE_PRECISION(), nullable=False),
        sa.Column("ends_at", sa.DOUBLE_PRECISION(), nullable=True),
        sa.Column("rule_id", sa.Text(), nullable=True),
        sa.Column("channels", sa.Text(), nullable=True),
        sa.Column("received_at", sa.DOUBLE_PRECISION(), nullable=False),
        sa.Column("updated_at", sa.DOUBLE_PRECISION(), nullable=False),
        sa.Column("acked_by", sa.Text(), nullable=True),
        sa.Column("acked_at", sa.DOUBLE_PRECISION(), nullable=True),
        sa.Column("escalation_step", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("fingerprint", name="alert_dispatch_pkey"),
    )
    op.create_index("ix_alert_dispatch_rule_id", "alert_dispatch", ["rule_id"])
    op.create_table(
        "alert_groups",
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("first_seen_at", sa.DOUBLE_PRECISION(), nullable=False),
        sa.Column("last_flush_at", sa.DOUBLE_PRECISION(), nullable=True),
        sa.Column("last_firing", sa.Text(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key", name="alert_groups_pkey"),
    )
    op.create_table(
        "silences",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("matchers", sa.Text(), nullable=False),
        sa.Column("starts_at", sa.DOUBLE_PRECISION(), nullable=False),
        sa.Column("ends_at", sa.DOUBLE_PRECISION(), nullable=False),
        sa.Column("created_by", sa.Text(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DOUBLE_PRECISION(), nullable=False),
        sa.Column("updated_at", sa.DOUBLE_PRECISION(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="silences_pkey"),
    )
    op.create_index("ix_silences_ends_at", "silences", ["ends_at"])


def downgrade() -> None:
    op.drop_index("ix_silences_ends_at", table_name="silences")
    op.drop_table("silences")
    op.drop_table("alert_groups")
    op.drop_index("ix_alert_dispatch_rule_id", table_name="alert_dispatch")
    op.drop_table("alert_dispatch")
