"""Sovereign Sync's documents and upload jobs (issue 16).

Kept beside schema.py, on the same metadata, so each feature's tables live in a module of
their own; schema.py imports this module at its end, so importing schema registers them.

``sync_documents``: one row per document sync job, the job's status (queued → encrypting →
uploading → verifying → synced, or failed with its reason), what was measured (sizes, sha256
of the plaintext and the ciphertext), the opaque object id the remote knows it by, and the
upload's progress (its chunked-upload folder and how many chunks the server acknowledged), so
a restarted agent resumes where it was.
"""

from __future__ import annotations

from sqlalchemy import DOUBLE_PRECISION, BigInteger, Column, Index, Integer, Table, Text

from appliance.database.schema import metadata

sync_documents = Table(
    "sync_documents",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("path", Text, nullable=False),
    Column("object_id", Text, nullable=False, unique=True),
    Column("status", Text, nullable=False),
    Column("reason", Text),
    Column("requested_by", Text, nullable=False),
    Column("size", BigInteger),
    Column("sha256", Text),
    Column("mtime", DOUBLE_PRECISION),
    Column("ciphertext_size", BigInteger),
    Column("ciphertext_sha256", Text),
    Column("upload_id", Text),
    Column("chunks_acked", Integer, nullable=False),
    Column("bytes_sent", BigInteger, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", DOUBLE_PRECISION, nullable=False),
    Column("created_at", DOUBLE_PRECISION, nullable=False),
    Column("updated_at", DOUBLE_PRECISION, nullable=False),
    Column("synced_at", DOUBLE_PRECISION),
    Index("ix_sync_documents_status_next_attempt_at", "status", "next_attempt_at"),
)

__all__ = ["metadata", "sync_documents"]
