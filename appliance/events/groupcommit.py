"""Group commit of outbox appends: many publishers' rows in one transaction and one fsync.

Publishers queue their row and block on a lock of their own; one writer thread takes every row
queued so far, inserts them in one transaction, commits (at ``synchronous=FULL`` the commit
returns once the write-ahead log is on disk) and only then releases each publisher. Rows that
queue during a commit form the next one, so the rows per commit grow with the load: one
publisher alone pays one fsync per event, sixty-four share one between them.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

Row = tuple[str, str, str | None, bytes, float, str | None]
INSERT = "INSERT INTO outbox (event_id, topic, key, body, created_at, headers) VALUES (?,?,?,?,?,?)"


@dataclass(slots=True)
class Queued:
    rows: list[Row]  # one publish, or one publish_many (stored all or none)
    seqs: list[int] = field(default_factory=list)
    error: BaseException | None = None
    # Held until the writer is done with the row: the publisher blocks acquiring it.
    done: threading.Lock = field(default_factory=threading.Lock)


class GroupCommitter:
    def __init__(self, db: sqlite3.Connection, write_lock: threading.Lock) -> None:
        self._db = db
        self._write_lock = write_lock
        self._cond = threading.Condition()
        self._queue: list[Queued] = []
        self._closed = False
        self._thread: threading.Thread | None = None
        self.commits = 0  # transactions (fsyncs) so far; tests and benchmarks read it
        self.taken = 0  # rows the writer has taken into transactions (committed or not yet)

    def append(self, rows: list[Row]) -> list[int]:
        """Block until the rows are committed (all or none); their seqs, or the insert's error."""
        item = Queued(rows)
        item.done.acquire()
        with self._cond:
            if self._closed:
                raise sqlite3.ProgrammingError("the outbox is closed")
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="eventbus-outbox-writer", daemon=True
                )
                self._thread.start()
            self._queue.append(item)
            self._cond.notify()
        item.done.acquire()  # released by the writer once the row is durable (or failed)
        if item.error is not None:
            raise item.error
        return item.seqs

    @property
    def queued(self) -> int:
        """Rows waiting for the next commit."""
        with self._cond:
            return len(self._queue)

    def close(self) -> None:
        """Commit what is queued, then stop the writer."""
        with self._cond:
            self._closed = True
            self._cond.notify()
            thread = self._thread
        if thread is not None:
            thread.join()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closed:
                    self._cond.wait()
                batch, self._queue = self._queue, []
                if not batch and self._closed:
                    return
                self.taken += sum(len(item.rows) for item in batch)
            self._commit(batch)

    def _commit(self, batch: list[Queued]) -> None:
        """One transaction for the batch; a row that fails (a duplicate id) fails alone."""
        db = self._db
        with self._write_lock:
            try:
                db.execute("BEGIN IMMEDIATE")
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
                db.execute("COMMIT")
                self.commits += 1
            except Exception as exc:  # the commit failed (disk full, I/O error): none is stored
                log.error("event outbox: commit of %d row(s) failed: %s", len(batch), exc)
                if db.in_transaction:
                    db.execute("ROLLBACK")
                for item in batch:
                    item.error = item.error or exc
        for item in batch:
            item.done.release()
