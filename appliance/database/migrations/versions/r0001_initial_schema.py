"""The schema the hand-rolled store created: metric_samples and agent_state.

Also adopts a database that store created before Alembic (the tables exist, there is no
alembic_version): what exists with the expected columns is kept, with its rows, and only what
is missing is created; on SQLite, agent_state is copied into a table whose key cannot be NULL
(as on PostgreSQL). A table of that name with other columns is refused, never replaced.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = {
    "metric_samples": {"name", "ts", "value"},
    "agent_state": {"key", "value", "updated_at"},
}


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    existing = set(inspector.get_table_names())
    for table, expected in COLUMNS.items():
        if table in existing:
            found = {column["name"] for column in inspector.get_columns(table)}
            if found != expected:
                raise RuntimeError(
                    f"table {table} exists with columns {sorted(found)}, not the agent's "
                    f"{sorted(expected)}: refusing to adopt it"
                )
    if "metric_samples" not in existing:
        op.create_table(
            "metric_samples",
            sa.Column("name", sa.Text(), nullable=False),
            sa.Column("ts", sa.DOUBLE_PRECISION(), nullable=False),
            sa.Column("value", sa.DOUBLE_PRECISION(), nullable=False),
        )
    indexes = (
        set()
        if "metric_samples" not in existing
        else {index["name"] for index in inspector.get_indexes("metric_samples")}
    )
    if "metric_samples_name_ts" not in indexes:
        op.create_index("metric_samples_name_ts", "metric_samples", ["name", "ts"])
    if "agent_state" in existing:
        key = next(c for c in inspector.get_columns("agent_state") if c["name"] == "key")
        if key["nullable"]:
            # SQLite let the old `key TEXT PRIMARY KEY` hold NULL; copy the table into one
            # that does not (a NULL key, which the old code never wrote, fails the copy).
            with op.batch_alter_table("agent_state", recreate="always") as batch:
                batch.alter_column("key", existing_type=sa.Text(), nullable=False)
    else:
        op.create_table(
            "agent_state",
            sa.Column("key", sa.Text(), nullable=False),
            sa.Column("value", sa.Text(), nullable=False),
            sa.Column("updated_at", sa.DOUBLE_PRECISION(), nullable=False),
            sa.PrimaryKeyConstraint("key", name="agent_state_pkey"),
        )


def downgrade() -> None:
    op.drop_table("agent_state")
    op.drop_index("metric_samples_name_ts", table_name="metric_samples")
    op.drop_table("metric_samples")
