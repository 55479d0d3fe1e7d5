"""History and state store: embedded SQLite by default, PostgreSQL when a DSN is configured.

Both backends run the same SQL. Statements are written with ``?`` placeholders (sqlite3's
paramstyle) and translated to ``%s`` for psycopg; the schema uses types both understand.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

log = logging.getLogger(__name__)

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS metric_samples (
        name TEXT NOT NULL,
        ts DOUBLE PRECISION NOT NULL,
        value DOUBLE PRECISION NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS metric_samples_name_ts ON metric_samples (name, ts)",
    """CREATE TABLE IF NOT EXISTS agent_state (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL,
        updated_at DOUBLE PRECISION NOT NULL
    )""",
)

INSERT_SAMPLE = "INSERT INTO metric_samples (name, ts, value) VALUES (?, ?, ?)"
SELECT_HISTORY = (
    "SELECT ts, value FROM metric_samples WHERE name = ? AND ts >= ? ORDER BY ts DESC LIMIT ?"
)
PRUNE = "DELETE FROM metric_samples WHERE ts < ?"
UPSERT_STATE = (
    "INSERT INTO agent_state (key, value, updated_at) VALUES (?, ?, ?) "
    "ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at"
)
SELECT_STATE = "SELECT value FROM agent_state WHERE key = ?"


class StoreError(RuntimeError):
    """The history store failed (connection lost, disk full…)."""


@dataclass(frozen=True, slots=True)
class Sample:
    ts: float
    value: float


class _Cursor(Protocol):
    def execute(self, sql: Any, params: Sequence[Any] = ..., /) -> Any: ...
    def executemany(self, sql: Any, params: Iterable[Sequence[Any]], /) -> Any: ...
    def fetchall(self) -> list[Any]: ...
    def fetchone(self) -> Any: ...
    def close(self) -> Any: ...


class _Connection(Protocol):
    def cursor(self) -> Any: ...
    def commit(self) -> None: ...
    def rollback(self) -> None: ...
    def close(self) -> None: ...


class Store:
    """Thread-safe: the sampler thread writes while request threads read."""

    def __init__(self, connection: _Connection, paramstyle: str, description: str) -> None:
        self._conn = connection
        self._placeholder = "%s" if paramstyle in ("format", "pyformat") else "?"
        self._lock = threading.Lock()
        self.description = description
        self._run(lambda cur: [cur.execute(stmt) for stmt in SCHEMA])

    def _sql(self, statement: str) -> str:
        return statement if self._placeholder == "?" else statement.replace("?", "%s")

    def _run(self, work: Any) -> Any:
        with self._lock:
            cur: _Cursor | None = None
            try:
                cur = self._conn.cursor()
                result = work(cur)
                self._conn.commit()
                return result
            except Exception as exc:
                try:
                    self._conn.rollback()
                except Exception:  # the connection may be gone; the original error matters
                    log.debug("rollback failed", exc_info=True)
                raise StoreError(f"{self.description}: {exc}") from exc
            finally:
                if cur is not None:
                    cur.close()

    def add_samples(self, ts: float, values: dict[str, float]) -> None:
        rows = [(name, ts, float(value)) for name, value in values.items()]
        if rows:
            self._run(lambda cur: cur.executemany(self._sql(INSERT_SAMPLE), rows))

    def history(self, name: str, since: float = 0.0, limit: int = 1000) -> list[Sample]:
        """Samples of one metric, oldest first, at most ``limit`` of the newest."""

        def work(cur: _Cursor) -> list[Any]:
            cur.execute(self._sql(SELECT_HISTORY), (name, since, limit))
            return cur.fetchall()

        return [Sample(float(ts), float(value)) for ts, value in reversed(self._run(work))]

    def prune(self, before: float) -> None:
        self._run(lambda cur: cur.execute(self._sql(PRUNE), (before,)))

    def set_state(self, key: str, value: str, ts: float) -> None:
        self._run(lambda cur: cur.execute(self._sql(UPSERT_STATE), (key, value, ts)))

    def get_state(self, key: str) -> str | None:
        def work(cur: _Cursor) -> Any:
            cur.execute(self._sql(SELECT_STATE), (key,))
            return cur.fetchone()

        row = self._run(work)
        return None if row is None else str(row[0])

    def close(self) -> None:
        with self._lock:
            self._conn.close()


def open_sqlite(path: Path) -> Store:
    if str(path) != ":memory:":
        path.parent.mkdir(parents=True, exist_ok=True)
    # The lock in Store serialises access, so the connection may cross threads.
    conn = sqlite3.connect(str(path), check_same_thread=False, timeout=10)
    conn.execute("PRAGMA journal_mode=WAL")
    return Store(conn, sqlite3.paramstyle, f"sqlite:{path}")


def open_postgres(dsn: str, description: str) -> Store:
    import psycopg

    try:
        conn = psycopg.connect(dsn, connect_timeout=10)
    except psycopg.Error as exc:
        # psycopg messages do not contain the password; the description is credential-free.
        raise StoreError(f"{description}: {exc}") from exc
    return Store(conn, psycopg.paramstyle, description)


def open_store(database_url: str | None, sqlite_path: Path, description: str) -> Store:
    if database_url:
        return open_postgres(database_url, description)
    return open_sqlite(sqlite_path)
