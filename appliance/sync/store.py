"""Sync jobs in the agent's database (``sync_documents``): one row per document, its status
and what the worker needs to resume it after a restart."""

from __future__ import annotations

from dataclasses import dataclass, fields
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from appliance.database.repository import Store
from appliance.database.schema_sync import sync_documents as table


class Status(StrEnum):
    QUEUED = "queued"
    ENCRYPTING = "encrypting"
    UPLOADING = "uploading"
    VERIFYING = "verifying"
    SYNCED = "synced"
    FAILED = "failed"


ACTIVE = (Status.QUEUED, Status.ENCRYPTING, Status.UPLOADING, Status.VERIFYING)


@dataclass(frozen=True, slots=True)
class Document:
    id: int
    path: str
    object_id: str
    status: Status
    reason: str | None
    requested_by: str
    size: int | None
    sha256: str | None
    mtime: float | None
    ciphertext_size: int | None
    ciphertext_sha256: str | None
    upload_id: str | None
    chunks_acked: int
    bytes_sent: int
    attempts: int
    next_attempt_at: float
    created_at: float
    updated_at: float
    synced_at: float | None


_COLUMNS = [f.name for f in fields(Document)]


def _document(row: Any) -> Document:
    values = dict(zip(_COLUMNS, row, strict=True))
    values["status"] = Status(values["status"])
    return Document(**values)


class SyncStore:
    def __init__(self, store: Store) -> None:
        self._store = store

    def add(self, path: str, object_id: str, requested_by: str, now: float) -> Document:
        row = {
            "path": path,
            "object_id": object_id,
            "status": Status.QUEUED.value,
            "requested_by": requested_by,
            "chunks_acked": 0,
            "bytes_sent": 0,
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
            "updated_at": now,
        }

        def work(c: Connection) -> int:
            return int(c.execute(insert(table).values(row).returning(table.c.id)).scalar_one())

        document = self.get(self._store.run(work))
        assert document is not None
        return document

    def get(self, document_id: int) -> Document | None:
        columns = [table.c[name] for name in _COLUMNS]
        row = self._store.run(
            lambda c: c.execute(select(*columns).where(table.c.id == document_id)).first()
        )
        return None if row is None else _document(row)

    def list(self, *, status: Status | None = None, limit: int = 100, before: int | None = None
             ) -> list[Document]:  # fmt: skip
        query = select(*[table.c[name] for name in _COLUMNS]).order_by(table.c.id.desc())
        if status is not None:
            query = query.where(table.c.status == status.value)
        if before is not None:
            query = query.where(table.c.id < before)
        rows = self._store.run(lambda c: c.execute(query.limit(limit)).all())
        return [_document(row) for row in rows]

    def latest_under(self, folder: str) -> dict[str, Document]:
        """The newest job of each path under ``folder`` (a watched folder's scan)."""
        prefix = folder.rstrip("/") + "/"
        query = (
            select(*[table.c[name] for name in _COLUMNS])
            .where(table.c.path.startswith(prefix, autoescape=True))
            .order_by(table.c.id)
        )
        rows = self._store.run(lambda c: c.execute(query).all())
        return {row[1]: _document(row) for row in rows}  # later ids overwrite earlier ones

    def due(self, now: float) -> Document | None:
        """The oldest unfinished job whose time has come."""
        query = (
            select(*[table.c[name] for name in _COLUMNS])
            .where(table.c.status.in_([s.value for s in ACTIVE]))
            .where(table.c.next_attempt_at <= now)
            .order_by(table.c.id)
            .limit(1)
        )
        row = self._store.run(lambda c: c.execute(query).first())
        return None if row is None else _document(row)

    def next_due_at(self) -> float | None:
        query = select(func.min(table.c.next_attempt_at)).where(
            table.c.status.in_([s.value for s in ACTIVE])
        )
        value = self._store.run(lambda c: c.execute(query).scalar())
        return None if value is None else float(value)

    def set(self, document_id: int, now: float, **values: Any) -> None:
        values = {k: (v.value if isinstance(v, Status) else v) for k, v in values.items()}
        statement = update(table).where(table.c.id == document_id)
        self._store.run(lambda c: c.execute(statement.values(updated_at=now, **values)))

    def counts(self) -> tuple[dict[str, int], int]:
        """Documents per status, and the bytes ever sent to the server."""
        query = select(table.c.status, func.count(), func.coalesce(func.sum(table.c.bytes_sent), 0))
        rows = self._store.run(lambda c: c.execute(query.group_by(table.c.status)).all())
        per_status = {s.value: 0 for s in Status}
        sent = 0
        for status, count, bytes_sent in rows:
            per_status[status] = int(count)
            sent += int(bytes_sent)
        return per_status, sent
