"""SQLite store: the durable outbox publish() writes to (the consumers' dedupe window and
dead letters live in the same file: see inbox.py).

One file, WAL mode, so publishers, the forwarder and consumers (a connection each) do not block
one another's reads. A row is pending until the broker acknowledged it; ``seq`` (monotonic) is
the delivery order.

Group commit (groupcommit.py). append() returns only once its row is durable, yet rows of
concurrent publishers share one transaction and one fsync: rows arriving while a commit is under
way queue, and the first of them commits them all together once it ends.

What a power cut can lose, with ``synchronous=FULL`` (the default): nothing append() returned
for. SQLite in WAL mode with FULL syncs the write-ahead log at every commit, before the commit
returns, so an acknowledged row is on disk; rows still queued or in the transaction being
committed were not acknowledged (their publish() raises or never returns) and may be lost.
Forwarder bookkeeping (marked delivered, dead) uses a second connection at NORMAL and marks
deliveries once per 50 ms while rows are in flight: a power cut may undo it, a kill -9 lose the
last 50 ms of it, which re-sends rows already on the broker (duplicates, dropped by the
consumers' dedupe), never loses one. With ``synchronous=NORMAL`` a process crash (kill -9)
still loses nothing, but a power cut or kernel crash may drop the last acknowledged commits.

Deliberately not in the agent's database (appliance/database, PostgreSQL on appliances): the
outbox is a local spool that must take events while that database is down too, so it stays a
file of its own with its own schema, outside Alembic's migrations.
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Self

from appliance.events.groupcommit import GroupCommitter

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
"""


_write_locks: dict[Path, threading.Lock] = {}
_write_locks_guard = threading.Lock()


def write_lock(path: Path) -> threading.Lock:
    """The process's one lock for writing to this file. SQLite lets one connection write at a
    time and makes the others retry with sleeps of up to 100 ms (busy_timeout); queueing on a
    lock instead hands the file over as soon as a commit ends (p99 ~0.5 s -> ms)."""
    key = path.resolve()
    with _write_locks_guard:
        return _write_locks.setdefault(key, threading.Lock())


def connect(path: Path, synchronous: str) -> sqlite3.Connection:
    """A connection in WAL mode; ``synchronous`` is per connection (FULL or NORMAL)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(f"PRAGMA synchronous={'FULL' if synchronous == 'FULL' else 'NORMAL'}")
    db.execute("PRAGMA busy_timeout=5000")
    return db


def encode_headers(headers: Mapping[str, str] | None) -> str | None:
    return json.dumps(dict(headers), separators=(",", ":")) if headers else None


def decode_headers(text: str | None) -> dict[str, str]:
    return dict(json.loads(text)) if text else {}


@dataclass(frozen=True, slots=True)
class OutboxRow:
    seq: int
    event_id: str
    topic: str
    key: str | None
    body: bytes
    created_at: float
    attempts: int
    headers: dict[str, str] = field(default_factory=dict)  # W3C trace context, when any


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
        # Reads and forwarder bookkeeping: one connection behind a lock (sqlite3 objects are
        # not thread-safe on their own); appends: a connection of their own, group-committed.
        self._db = connect(path, "NORMAL")
        self._lock = threading.Lock()
        with self._lock, write_lock(path):
            self._db.executescript(_SCHEMA)
            columns = {row[1] for row in self._db.execute("PRAGMA table_info(outbox)")}
            if "headers" not in columns:  # outbox files written before trace propagation
                self._db.execute("ALTER TABLE outbox ADD COLUMN headers TEXT")
        self._writer = connect(path, synchronous)
        self._writes = write_lock(path)
        self._committer = GroupCommitter(self._writer, self._writes)

    def close(self) -> None:
        self._committer.close()
        self._writer.close()
        with self._lock:
            self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- outbox --------------------------------------------------------------------------

    def append(
        self,
        event_id: str,
        topic: str,
        key: str | None,
        body: bytes,
        headers: Mapping[str, str] | None = None,
    ) -> int:
        """Commit one pending row (group commit); returns its seq. Durable once this returns."""
        row = (event_id, topic, key, body, self._clock(), encode_headers(headers))
        return self._committer.append([row])[0]

    def append_many(
        self, rows: Sequence[tuple[str, str, str | None, bytes, Mapping[str, str] | None]]
    ) -> list[int]:
        """Commit (event_id, topic, key, body, headers) rows in order, all or none; the seqs."""
        now = self._clock()
        return self._committer.append(
            [(e, t, k, b, now, encode_headers(h)) for e, t, k, b, h in rows]
        )

    @property
    def queued(self) -> int:
        """Appends waiting for the next group commit."""
        return self._committer.queued

    @property
    def taken(self) -> int:
        """Appends the writer has taken into a transaction so far."""
        return self._committer.taken

    @property
    def commits(self) -> int:
        """Transactions (fsyncs) appends took so far: fewer than rows under concurrency."""
        return self._committer.commits

    def pending(self, after_seq: int, limit: int) -> list[OutboxRow]:
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, event_id, topic, key, body, created_at, attempts, headers "
                "FROM outbox WHERE status = 0 AND seq > ? ORDER BY seq LIMIT ?",
                (after_seq, limit),
            ).fetchall()
        return [
            OutboxRow(seq, event_id, topic, key, body, created, attempts, decode_headers(hdrs))
            for seq, event_id, topic, key, body, created, attempts, hdrs in rows
        ]

    def mark_delivered(self, seqs: Iterable[int]) -> None:
        now = self._clock()
        with self._lock, self._writes, self._db:
            self._db.execute("BEGIN")  # one transaction, not one per row
            self._db.executemany(
                "UPDATE outbox SET status = 1, delivered_at = ?, attempts = attempts + 1 "
                "WHERE seq = ? AND status = 0",
                [(now, seq) for seq in seqs],
            )

    def mark_dead(self, seq: int, error: str) -> None:
        """A row the broker refuses for good (too large, not authorised): stop retrying it."""
        with self._lock, self._writes:
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
        with self._lock, self._writes:
            cur = self._db.execute(
                "DELETE FROM outbox WHERE status = 1 AND delivered_at < ?",
                (self._clock() - older_than_s,),
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
