"""SQLite store: the durable outbox publish() writes to, and the consumers' dedupe window.

One file, WAL mode, so publishers, the forwarder and consumers (one connection each, or a
shared one behind a lock) do not block one another's reads. A row is pending until the broker
acknowledged it; ``seq`` (monotonic) is the delivery order.

Deliberately not in the agent's database (appliance/database, PostgreSQL on appliances): the
outbox is a local spool that must take events while that database is down too, so it stays a
file of its own with its own schema, outside Alembic's migrations.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self

PENDING, DELIVERED, DEAD = 0, 1, 2

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL UNIQUE,
    topic TEXT NOT NULL,
    key TEXT,
    body BLOB NOT NULL,
    created_at REAL NOT NULL,
    status INTEGER NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    delivered_at REAL,
    last_error TEXT
);
CREATE INDEX IF NOT EXISTS outbox_status_seq ON outbox (status, seq);
CREATE TABLE IF NOT EXISTS inbox (
    n INTEGER PRIMARY KEY AUTOINCREMENT,
    group_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    processed_at REAL NOT NULL,
    UNIQUE (group_id, event_id)
);
"""


@dataclass(frozen=True, slots=True)
class OutboxRow:
    seq: int
    event_id: str
    topic: str
    key: str | None
    body: bytes
    created_at: float
    attempts: int


@dataclass(frozen=True, slots=True)
class Backlog:
    pending: int
    dead: int
    oldest_pending_created_at: float | None


class Outbox:
    def __init__(
        self,
        path: Path,
        *,
        synchronous: str = "FULL",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = path
        self._clock = clock
        path.parent.mkdir(parents=True, exist_ok=True)
        # One connection shared by the bus's threads; sqlite3 objects are not thread-safe on
        # their own, hence the lock. Writes are short transactions, so contention is low.
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(f"PRAGMA synchronous={'FULL' if synchronous == 'FULL' else 'NORMAL'}")
            self._db.execute("PRAGMA busy_timeout=5000")
            self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- outbox --------------------------------------------------------------------------

    def append(self, event_id: str, topic: str, key: str | None, body: bytes) -> int:
        """Commit one pending row; returns its seq. Durable once this returns."""
        with self._lock:
            cur = self._db.execute(
                "INSERT INTO outbox (event_id, topic, key, body, created_at) VALUES (?,?,?,?,?)",
                (event_id, topic, key, body, self._clock()),
            )
            assert cur.lastrowid is not None
            return cur.lastrowid

    def pending(self, after_seq: int, limit: int) -> list[OutboxRow]:
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, event_id, topic, key, body, created_at, attempts FROM outbox "
                "WHERE status = 0 AND seq > ? ORDER BY seq LIMIT ?",
                (after_seq, limit),
            ).fetchall()
        return [OutboxRow(*row) for row in rows]

    def mark_delivered(self, seqs: Iterable[int]) -> None:
        now = self._clock()
        with self._lock, self._db:
            self._db.executemany(
                "UPDATE outbox SET status = 1, delivered_at = ?, attempts = attempts + 1 "
                "WHERE seq = ? AND status = 0",
                [(now, seq) for seq in seqs],
            )

    def mark_dead(self, seq: int, error: str) -> None:
        """A row the broker refuses for good (too large, not authorised): stop retrying it."""
        with self._lock:
            self._db.execute(
                "UPDATE outbox SET status = 2, attempts = attempts + 1, last_error = ? "
                "WHERE seq = ?",
                (error[:1000], seq),
            )

    def backlog(self) -> Backlog:
        with self._lock:
            pending, oldest = self._db.execute(
                "SELECT count(*), min(created_at) FROM outbox WHERE status = 0"
            ).fetchone()
            (dead,) = self._db.execute("SELECT count(*) FROM outbox WHERE status = 2").fetchone()
        return Backlog(pending=pending, dead=dead, oldest_pending_created_at=oldest)

    def prune_delivered(self, older_than_s: float) -> int:
        with self._lock:
            cur = self._db.execute(
                "DELETE FROM outbox WHERE status = 1 AND delivered_at < ?",
                (self._clock() - older_than_s,),
            )
            return cur.rowcount

    # -- consumer dedupe window ------------------------------------------------------------

    def seen(self, group_id: str, event_id: str) -> bool:
        with self._lock:
            row = self._db.execute(
                "SELECT 1 FROM inbox WHERE group_id = ? AND event_id = ?", (group_id, event_id)
            ).fetchone()
        return row is not None

    def remember(self, group_id: str, event_id: str) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR IGNORE INTO inbox (group_id, event_id, processed_at) VALUES (?,?,?)",
                (group_id, event_id, self._clock()),
            )

    def trim_inbox(self, group_id: str, keep: int) -> int:
        """Forget all but the newest ``keep`` ids of the group (the dedupe window)."""
        with self._lock:
            cur = self._db.execute(
                "DELETE FROM inbox WHERE group_id = ? AND n <= ("
                "  SELECT n FROM inbox WHERE group_id = ? ORDER BY n DESC LIMIT 1 OFFSET ?)",
                (group_id, group_id, keep),
            )
            return cur.rowcount


class ForwarderLock:
    """At most one forwarder per outbox file, across processes: two would send rows twice."""

    def __init__(self, outbox_path: Path) -> None:
        self.path = outbox_path.with_name(outbox_path.name + ".forwarder.lock")
        self._fd: int | None = None

    def try_acquire(self) -> bool:
        if self._fd is not None:
            return True
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
