"""Alert rules, their evaluation states and the history of transitions.

``alert_rules``: user-made and built-in rules (threshold, condition, for-duration, hysteresis,
labels, annotations, channel override). ``alert_states``: one row per rule and fingerprint
(pending since, firing since, last value), so a restarted evaluator resumes. ``alert_history``:
every transition, append-only, with an index per history filter ending in ``id`` (the cursor).

Downgrading drops them, with their rows: rules made through the API and the history are lost.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

HISTORY_INDEXES = {
    "ix_alert_history_rule_id_id": ["rule_id", "id"],
    "ix_alert_history_fingerprint_id": ["fingerprint", "id"],
    "ix_alert_history_status_id": ["status", "id"],
    "ix_alert_history_severity_id": ["severity", "id"],
    "ix_alert_history_ts": ["ts"],
}


def upgrade() -> None:
    op.create_table(
        "alert_rules",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("severity", sa.Text(), nullable=False),
        sa.Column("service", sa.Text(), nullable=True),
        sa.Column("metric", sa.Text(), nullable=False),
        sa.Column("condition", sa.Text(), nullable=False),
        sa.Column("threshold", sa.DOUBLE_PRECISION(), nullable=False),
        sa.Column("hysteresis", sa.DOUBLE_PRECISION(), nullable=False),
        sa.Column("for_seconds", sa.DOUBLE_PRECISION(), nullable=False),
        sa.Column("labels", sa.Text(), nullable=False),
        sa.Column("annotations", sa.Text(), nullable=False),
        sa.Column("channels", sa.Text(), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("builtin", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DOUBLE_PRECISION(), nullable=False),
        sa.Column("updated_at", sa.DOUBLE_PRECISION(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="alert_rules_pkey"),
    )
    op.create_table(
        "alert_states",
        sa.Column("rule_id", sa.Text(), nullable=False),
        sa.Column("fingerprint", sa.Text(), nullable=False),
        sa.Column("labels", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("severity", sa.Text(), nullable=False),
        sa.Column("pending_since", sa.DOUBLE_PRECISION(), nullable=True),
        sa.Column("firing_since", sa.DOUBLE_PRECISION(), nullable=True),
        sa.Column("resolved_at", sa.DOUBLE_PRECISION(), nullable=True),
        sa.Column("last_value", sa.DOUBLE_PRECISION(), nullable=True),
        sa.Column("evaluated_at", sa.DOUBLE_PRECISION(), nullable=False),
        sa.PrimaryKeyConstraint("rule_id", "fingerprint", name="alert_states_pkey"),
    )
    op.create_table(
        "alert_history",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("ts", sa.DOUBLE_PRECISION(), nullable=False),
        sa.Column("rule_id", sa.Text(), nullable=True),
        sa.Column("fingerprint", sa.Text(), nullable=False),
        sa.Column("alertname", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("previous", sa.Text(), nullable=False),
        sa.Column("severity", sa.Text(), nullable=False),
        sa.Column("value", sa.DOUBLE_PRECISION(), nullable=True),
        sa.Column("labels", sa.Text(), nullable=False),
        sa.Column("annotations", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="alert_history_pkey"),
    )
    for name, columns in HISTORY_INDEXES.items():
        op.create_index(name, "alert_history", columns)


def downgrade() -> None:
    for name in HISTORY_INDEXES:
        op.drop_index(name, table_name="alert_history")
    op.drop_table("alert_history")
    op.drop_table("alert_states")
    op.drop_table("alert_rules")
