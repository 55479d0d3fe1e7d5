"""Group commit of outbox appends: many publishers' rows in one transaction and one fsync.

Leader and followers, no thread of its own: a publisher that finds no commit under way commits
its rows itself, at once. Publishers arriving while a commit is under way queue and block on a
lock of their own; when the commit ends, the leader releases the rows it committed and hands
over to the first queued publisher, which commits the whole queue in one transaction (at
``synchronous=FULL`` the commit returns once the write-ahead log is on disk) and so on. A
publisher is released only once its rows are durable (or failed). The rows per commit grow
with the load: one publisher alone pays one fsync per event, sixty-four share one.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

Row = tuple[str, str, str | None, bytes, float, str | None]
INSERT = "INSERT INTO outbox (event_id, topic, key, body, created_at, headers) VALUES (?,?,?,?,?,?)"


@dataclass(slots=True, eq=False)
class Queued:
    rows: list[Row]  # one publish, or one publish_many (stored all or none)
    seqs: list[int] = field(default_factory=list)
    error: BaseException | None = None
    lead: bool = False  # woken to commit the queue, not because its rows are done
    # Held while the publisher waits: released when its rows are done or it is to lead.
    wake: threading.Lock = field(default_factory=threading.Lock)


class GroupCommitter:
    def __init__(self, db: sqlite3.Connection, write_lock: threading.Lock) -> None:
        self._db = db
        self._write_lock = write_lock
        self._cond = threading.Condition()
        self._queue: list[Queued] = []
        self._busy = False  # a leader is committing
        self._closed = False
        self.commits = 0  # transactions (fsyncs) so far; tests and benchmarks read it
        self.taken = 0  # rows taken into transactions (committed or being committed)

    def append(self, rows: list[Row]) -> list[int]:
        """Block until the rows are committed (all or none); their seqs, or the insert's error."""
        item = Queued(rows)
        with self._cond:
            if self._closed:
                raise sqlite3.ProgrammingError("the outbox is closed")
            if self._busy:
                item.wake.acquire()
                self._queue.append(item)
            else:
                self._busy = item.lead = True
        if not item.lead:
            item.wake.acquire()  # blocks until done, or until it is this one's turn to lead
        if item.lead:
            self._lead(item)
        if item.error is not None:
            raise item.error
        return item.seqs

    def _lead(self, me: Queued) -> None:
        with self._cond:
            batch, self._queue = self._queue, []
            if not any(item is me for item in batch):  # a first leader was never queued
                batch.insert(0, me)
            self.taken += sum(len(item.rows) for item in batch)
        try:
            self._commit(batch)
        finally:
            with self._cond:
                if self._queue:
                    head = self._queue[0]
                    head.lead = True
                    head.wake.release()  # it takes the queue; _busy stays set
                else:
                    self._busy = False
                    self._cond.notify_all()  # close() may be waiting
            for item in batch:
                if item is not me:
                    item.wake.release()

    @property
    def queued(self) -> int:
        """Rows waiting for the next commit."""
        with self._cond:
            return len(self._queue)

    def close(self) -> None:
        """Refuse new rows; wait for the commit under way and those queued behind it."""
        with self._cond:
            self._closed = True
            while self._busy:
                self._cond.wait()

    def _commit(self, batch: list[Queued]) -> None:
        """One transaction for the batch; an item that fails (a duplicate id) fails alone."""
        db = self._db
        with self._write_lock:
            try:
                db.execute("BEGIN IMMEDIATE")
                try:
                    self._insert_all(batch)
                except sqlite3.IntegrityError:  # a duplicate id: again, item by item
                    db.execute("ROLLBACK")
                    db.execute("BEGIN IMMEDIATE")
                    self._insert_each(batch)
                db.execute("COMMIT")
                self.commits += 1
            except Exception as exc:  # the commit failed (disk full, I/O error): none is stored
                log.error("event outbox: commit of %d item(s) failed: %s", len(batch), exc)
                if db.in_transaction:
                    db.execute("ROLLBACK")
                for item in batch:
                    item.error, item.seqs = item.error or exc, []

    def _insert_all(self, batch: list[Queued]) -> None:
        """All rows in one executemany: no savepoint and no statement per row (the common case).

        AUTOINCREMENT gives each insert max(seq so far) + 1, so in one transaction of a single
        writer the rows' seqs are consecutive, ending at the last insert's rowid.
        """
        db = self._db
        db.executemany(INSERT, [row for item in batch for row in item.rows])
        (last,) = db.execute("SELECT last_insert_rowid()").fetchone()
        seq = last - sum(len(item.rows) for item in batch)
        for item in batch:
            item.seqs = list(range(seq + 1, seq + 1 + len(item.rows)))
            seq += len(item.rows)

    def _insert_each(self, batch: list[Queued]) -> None:
        db = self._db
        for item in batch:
            db.execute("SAVEPOINT item")
            try:
                for row in item.rows:
                    item.seqs.append(db.execute(INSERT, row).lastrowid or 0)
                db.execute("RELEASE item")
            except sqlite3.Error as exc:  # a duplicate id: this item's rows only
                db.execute("ROLLBACK TO item")
                db.execute("RELEASE item")
                item.error, item.seqs = exc, []
