"""Which notification channels the inventory declared: ``notification_channels.declared``.

The agent sets it on every channel it writes from ``[notifications] channels`` at start, so a
channel later dropped from the inventory can be told apart from one an admin made through the
API, and removed (appliance/notifications/declared.py). Existing rows start as not declared;
the first start on this revision marks the channels its configuration still declares (a
channel dropped from the inventory before this revision stays, as an admin's).

Downgrading drops the column: every channel is then again one an admin may edit.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29
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
    with op.batch_alter_table("notification_channels") as batch:
        batch.add_column(
            sa.Column("declared", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("notification_channels") as batch:
        batch.drop_column("declared")
