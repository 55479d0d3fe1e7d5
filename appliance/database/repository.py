"""The agent's history and state store over SQLAlchemy Core: one API on SQLite and PostgreSQL.

Thread-safe: the sampler thread writes while request threads read. Each call runs in its own
transaction on a pooled connection (SQLite calls are also serialised, it has one writer).

The schema is prepared (migrated, and on PostgreSQL the old SQLite history imported) by
``prepare()`` at agent start. When the database cannot be reached then, the agent starts
anyway and the next call tries again, at most every ``retry_s``; meanwhile calls raise
DatabaseUnavailable, which the sampler reports as a degraded agent and the API as 503.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import Connection, Engine, delete, insert, select
from sqlalchemy.dialects import postgresql, sqlite

from appliance.database.engine import SQLITE_BEGIN_OPTION, describe
from appliance.database.errors import (
    DatabaseUnavailable,
    StoreError,
    first_line,
    is_unavailable,
)
from appliance.database.schema import agent_state, metric_samples

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Sample:
    ts: float
    value: float


class Store:
    def __init__(
        self,
        engine: Engine,
        prepare: Callable[[Engine], None],
        *,
        retry_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._engine = engine
        self._prepare = prepare
        self._retry_s = retry_s
        self._clock = clock
        self.description = describe(engine)
        self._serial: AbstractContextManager[object] = (
            threading.RLock() if engine.dialect.name == "sqlite" else nullcontext()
        )
        self._prepare_lock = threading.Lock()
        self._prepared = False
        self._next_attempt = 0.0
        self._last_failure: DatabaseUnavailable | None = None
        self._closed = False

    @property
    def engine(self) -> Engine:
        return self._engine

    @property
    def dialect(self) -> str:
        return self._engine.dialect.name

    def prepare(self) -> None:
        """Migrate (and import) now. Raises DatabaseUnavailable when the database cannot be
        reached, SchemaError (e.g. SchemaNewerThanCode) when its schema cannot be used."""
        with self._prepare_lock:
            self._prepare_now()

    def _prepare_now(self) -> None:
        try:
            self._prepare(self._engine)
        except DatabaseUnavailable as exc:
            self._last_failure = exc
            self._next_attempt = self._clock() + self._retry_s
            raise
        self._prepared, self._last_failure = True, None

    def _ensure_prepared(self) -> None:
        if self._prepared:
            return
        with self._prepare_lock:
            if self._prepared:
                return
            if self._last_failure is not None and self._clock() < self._next_attempt:
                raise self._last_failure
            self._prepare_now()

    def run(self, work: Callable[[Connection], T], *, exclusive: bool = False) -> T:
        """``work`` in one transaction, for the agent's other repositories (tokens, audit).

        ``exclusive``: on SQLite, take the write lock at BEGIN (``BEGIN IMMEDIATE``), for a
        read-then-write that another process may race (a second writer waits on the busy
        timeout instead of failing on the lock upgrade). PostgreSQL callers lock themselves.
        """
        return self._run(work, exclusive=exclusive)

    def _run(self, work: Callable[[Connection], T], *, exclusive: bool = False) -> T:
        with self._serial:
            if self._closed:
                raise StoreError(f"{self.description}: store closed")
            self._ensure_prepared()
            try:
                with self._engine.connect() as connection:
                    if exclusive and self.dialect == "sqlite":
                        connection = connection.execution_options(
                            **{SQLITE_BEGIN_OPTION: "BEGIN IMMEDIATE"}
                        )
                    with connection.begin():
                        return work(connection)
            except Exception as exc:
                kind = DatabaseUnavailable if is_unavailable(exc) else StoreError
                raise kind(f"{self.description}: {first_line(exc)}") from exc

    def add_samples(self, ts: float, values: dict[str, float]) -> None:
        rows = [{"name": name, "ts": ts, "value": float(value)} for name, value in values.items()]
        if rows:
            self._run(lambda connection: connection.execute(insert(metric_samples), rows))

    def history(self, name: str, since: float = 0.0, limit: int = 1000) -> list[Sample]:
        """Samples of one metric, oldest first, at most ``limit`` of the newest."""
        query = (
            select(metric_samples.c.ts, metric_samples.c.value)
            .where(metric_samples.c.name == name, metric_samples.c.ts >= since)
            .order_by(metric_samples.c.ts.desc())
            .limit(limit)
        )
        rows = self._run(lambda connection: connection.execute(query).all())
        return [Sample(float(ts), float(value)) for ts, value in reversed(rows)]

    def prune(self, before: float) -> None:
        statement = delete(metric_samples).where(metric_samples.c.ts < before)
        self._run(lambda connection: connection.execute(statement))

    def set_state(self, key: str, value: str, ts: float) -> None:
        dialect_insert = postgresql.insert if self.dialect == "postgresql" else sqlite.insert
        statement = dialect_insert(agent_state).values(key=key, value=value, updated_at=ts)
        upsert = statement.on_conflict_do_update(
            index_elements=[agent_state.c.key],
            set_={
                "value": statement.excluded.value,
                "updated_at": statement.excluded.updated_at,
            },
        )
        self._run(lambda connection: connection.execute(upsert))

    def get_state(self, key: str) -> str | None:
        query = select(agent_state.c.value).where(agent_state.c.key == key)
        value = self._run(lambda connection: connection.execute(query).scalar_one_or_none())
        return None if value is None else str(value)

    def close(self) -> None:
        with self._serial:
            self._closed = True
            self._engine.dispose()

    def __repr__(self) -> str:
        return f"Store({self.description})"
