"""Tables for Sovereign Sync's documents and jobs.

``sync_documents``: one row per document sync job: status and reason, sizes and sha256 of the
plaintext and the ciphertext, the opaque remote object id, the chunked upload's folder and
acknowledged chunk count (to resume), attempts and the next one's time.

Downgrading drops it, with its rows: the remote objects stay (restorable with the operator's
key), the agent forgets them.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sync_documents",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("object_id", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("requested_by", sa.Text(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column("sha256", sa.Text(), nullable=True),
        sa.Column("mtime", sa.DOUBLE_PRECISION(), nullable=True),
        sa.Column("ciphertext_size", sa.BigInteger(), nullable=True),
        sa.Column("ciphertext_sha256", sa.Text(), nullable=True),
        sa.Column("upload_id", sa.Text(), nullable=True),
        sa.Column("chunks_acked", sa.Integer(), nullable=False),
        sa.Column("bytes_sent", sa.BigInteger(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DOUBLE_PRECISION(), nullable=False),
        sa.Column("created_at", sa.DOUBLE_PRECISION(), nullable=False),
        sa.Column("updated_at", sa.DOUBLE_PRECISION(), nullable=False),
        sa.Column("synced_at", sa.DOUBLE_PRECISION(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="sync_documents_pkey"),
        sa.UniqueConstraint("object_id", name="sync_documents_object_id_key"),
    )
    op.create_index(
        "ix_sync_documents_status_next_attempt_at",
        "sync_documents",
        ["status", "next_attempt_at"],
    )


def downgrade() -> None:
    op.drop_index("ix_sync_documents_status_next_attempt_at", table_name="sync_documents")
    op.drop_table("sync_documents")
