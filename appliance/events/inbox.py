"""The consumers' side of the events file: the dedupe window and the dead letters.

Both tables sit in the outbox's SQLite file (see outbox.py), on a connection of their own.
A consumer batch ends with one transaction holding its dedupe rows (and any dead letters);
with ``synchronous=FULL`` that commit is on disk before the batch's offsets are committed to
the broker, so an offset never runs ahead of the dedupe rows it relies on.

A dead letter is an event whose handler kept failing (``handler_max_attempts`` attempts with
backoff): it is parked here, with the error, instead of being skipped, counted by
EventBus.health(), listed by EventBus.dead_letters() and run again by
EventBus.replay_dead_letter().
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from appliance.events.outbox import connect, decode_headers, encode_headers, write_lock

_SCHEMA = """
CREATE TABLE IF NOT EXISTS inbox (
    n INTEGER PRIMARY KEY AUTOINCREMENT,
    group_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    processed_at REAL NOT NULL,
    UNIQUE (group_id, event_id)
);
CREATE INDEX IF NOT EXISTS inbox_group_n ON inbox (group_id, n);
CREATE TABLE IF NOT EXISTS dead_letter (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    group_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    topic TEXT NOT NULL,
    partition INTEGER,
    "offset" INTEGER,
    body BLOB NOT NULL,
    headers TEXT,
    attempts INTEGER NOT NULL,
    error TEXT NOT NULL,
    failed_at REAL NOT NULL,
    replayed_at REAL,
    UNIQUE (group_id, event_id)
);
CREATE INDEX IF NOT EXISTS dead_letter_open ON dead_letter (replayed_at, id);
"""
_SELECT = (
    'SELECT id, group_id, event_id, topic, partition, "offset", body, headers, attempts, error, '
    "failed_at, replayed_at FROM dead_letter"
)
#: SQLite's default limit on host parameters is 32766 (3.32+); stay far below it.
_CHUNK = 900


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """An event a group's handler gave up on; ``body`` is the event's wire bytes."""

    id: int
    group_id: str
    event_id: str
    topic: str
    partition: int | None
    offset: int | None
    body: bytes
    headers: dict[str, str]
    attempts: int
    error: str
    failed_at: float
    replayed_at: float | None


@dataclass(frozen=True, slots=True)
class Failure:
    """What a consumer hands over to park an event."""

    event_id: str
    topic: str
    partition: int | None
    offset: int | None
    body: bytes
    headers: dict[str, str]
    attempts: int
    error: str


def _letter(row: tuple[Any, ...]) -> DeadLetter:
    return DeadLetter(
        id=row[0],
        group_id=row[1],
        event_id=row[2],
        topic=row[3],
        partition=row[4],
        offset=row[5],
        body=row[6],
        headers=decode_headers(row[7]),
        attempts=row[8],
        error=row[9],
        failed_at=row[10],
        replayed_at=row[11],
    )


class Inbox:
    def __init__(
        self, path: Path, *, synchronous: str = "FULL", clock: Callable[[], float] = time.time
    ) -> None:
        self._clock = clock
        self._db = connect(path, synchronous)
        self._lock = threading.Lock()
        self._writes = write_lock(path)
        with self._lock, self._writes:
            self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- dedupe window ---------------------------------------------------------------------

    def seen(self, group_id: str, event_ids: Sequence[str]) -> set[str]:
        """Which of these ids the group has already handled (or parked)."""
        found: set[str] = set()
        with self._lock:
            for start in range(0, len(event_ids), _CHUNK):
                chunk = event_ids[start : start + _CHUNK]
                marks = ",".join("?" * len(chunk))
                found.update(
                    row[0]
                    for row in self._db.execute(
                        # Only placeholders are formatted in; the values are bound.
                        f"SELECT event_id FROM inbox WHERE group_id = ? AND event_id IN ({marks})",  # noqa: S608
                        (group_id, *chunk),
                    )
                )
        return found

    def record(
        self, group_id: str, event_ids: Iterable[str], failures: Iterable[Failure] = ()
    ) -> None:
        """One transaction: the batch's dedupe rows and dead letters (durable at FULL)."""
        now = self._clock()
        with self._lock, self._writes, self._db:
            self._db.execute("BEGIN")
            self._db.executemany(
                "INSERT OR IGNORE INTO inbox (group_id, event_id, processed_at) VALUES (?,?,?)",
                [(group_id, event_id, now) for event_id in event_ids],
            )
            self._db.executemany(
                'INSERT INTO dead_letter (group_id, event_id, topic, partition, "offset", body, '
                "headers, attempts, error, failed_at) VALUES (?,?,?,?,?,?,?,?,?,?) "
                "ON CONFLICT (group_id, event_id) DO UPDATE SET attempts = attempts + "
                "excluded.attempts, error = excluded.error, failed_at = excluded.failed_at, "
                "replayed_at = NULL",
                [
                    (group_id, f.event_id, f.topic, f.partition, f.offset, f.body,
                     encode_headers(f.headers), f.attempts, f.error[:4000], now)
                    for f in failures
                ],
            )  # fmt: skip

    def trim(self, group_id: str, keep: int) -> int:
        """Forget all but the newest ``keep`` ids of the group (the dedupe window)."""
        with self._lock, self._writes:
            cur = self._db.execute(
                "DELETE FROM inbox WHERE group_id = ? AND n <= ("
                "  SELECT n FROM inbox WHERE group_id = ? ORDER BY n DESC LIMIT 1 OFFSET ?)",
                (group_id, group_id, keep),
            )
            return cur.rowcount

    # -- dead letters ----------------------------------------------------------------------

    def dead_letter_count(self) -> int:
        with self._lock:
            (count,) = self._db.execute(
                "SELECT count(*) FROM dead_letter WHERE replayed_at IS NULL"
            ).fetchone()
        return int(count)

    def dead_letters(
        self, group_id: str | None = None, *, include_replayed: bool = False, limit: int = 100
    ) -> list[DeadLetter]:
        with self._lock:
            rows = self._db.execute(
                f"{_SELECT} WHERE (? IS NULL OR group_id = ?) AND (? OR replayed_at IS NULL) "
                "ORDER BY id LIMIT ?",
                (group_id, group_id, include_replayed, limit),
            ).fetchall()
        return [_letter(row) for row in rows]

    def dead_letter(self, dead_id: int) -> DeadLetter | None:
        with self._lock:
            row = self._db.execute(f"{_SELECT} WHERE id = ?", (dead_id,)).fetchone()
        return None if row is None else _letter(row)

    def replayed(self, dead_id: int, error: str | None) -> None:
        """After a replay: done (error None), or one more failed attempt."""
        with self._lock, self._writes:
            if error is None:
                self._db.execute(
                    "UPDATE dead_letter SET replayed_at = ? WHERE id = ?", (self._clock(), dead_id)
                )
            else:
                self._db.execute(
                    "UPDATE dead_letter SET attempts = attempts + 1, error = ?, failed_at = ? "
                    "WHERE id = ?",
                    (error[:4000], self._clock(), dead_id),
                )
