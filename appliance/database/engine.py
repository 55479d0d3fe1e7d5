"""Engines for the agent's two dialects: embedded SQLite and PostgreSQL (psycopg 3).

SQLite: WAL (readers do not block the writer), a busy timeout instead of instant "database is
locked", ``check_same_thread=False`` (the sampler thread writes, request threads read) and
SQLAlchemy emitting BEGIN itself, so DDL is transactional and a migration is all or nothing.

PostgreSQL: the URL carries no password. With a ``PasswordSource`` (the agent's secret in
Vault) each new connection asks for it, so a rotated password is picked up; one refused by the
server is fetched again at once rather than after the secret cache's TTL.
"""

from __future__ import annotations

import select
import sqlite3
import time
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import Engine, create_engine, event, exc
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import StaticPool

#: SQLite ``BEGIN`` variant per connection; migrations ask for ``BEGIN EXCLUSIVE``.
SQLITE_BEGIN_OPTION = "sovereign_sqlite_begin"
MEMORY = ":memory:"


class PasswordSource(Protocol):
    """Where the PostgreSQL password comes from (the SecretManager in the agent)."""

    def get(self) -> str: ...

    def refresh(self) -> None:
        """Forget a cached value: the server refused it."""


def sqlite_engine(path: Path | str, busy_timeout_s: float = 10.0) -> Engine:
    """A file (its directory created) or ``":memory:"`` (one connection shared by threads)."""
    memory = str(path) == MEMORY
    if not memory:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        URL.create("sqlite+pysqlite", database=None if memory else str(path)),
        connect_args={"check_same_thread": False, "timeout": busy_timeout_s},
        # An in-memory database lives and dies with its connection: share exactly one.
        poolclass=StaticPool if memory else None,
    )

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        # Take BEGIN away from the sqlite3 module, which skips it before DDL and SELECT.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        if not memory:
            use_wal(cursor, busy_timeout_s)
            cursor.execute("PRAGMA synchronous=NORMAL")  # durable at checkpoints; safe in WAL
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        connection.exec_driver_sql(
            connection.get_execution_options().get(SQLITE_BEGIN_OPTION, "BEGIN")
        )

    return engine


def use_wal(cursor: sqlite3.Cursor, timeout_s: float) -> None:
    """The file in WAL mode. The mode is the file's and stays once set, so a connection that
    finds it set leaves it. Setting it needs the file to itself and SQLite does not wait for
    that (no busy handler): agents opening a new database together would get "database is
    locked" at connect, so the switch is tried again until ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if cursor.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as err:
            if "locked" not in str(err) or time.monotonic() >= deadline:
                raise
        time.sleep(0.02)


def postgres_engine(
    url: str,
    password: PasswordSource | None = None,
    *,
    connect_timeout_s: float = 10.0,
    pool_size: int = 2,
    max_overflow: int = 2,
    ping_idle_s: float = 30.0,
) -> Engine:
    """``url`` as in the settings (``postgresql://user@host:port/db``), driven by psycopg 3."""
    engine = create_engine(
        make_url(url).set(drivername="postgresql+psycopg"),
        # Not SQLAlchemy's pre-ping (a round trip per checkout, several per request): a
        # connection is checked without I/O when taken, below.
        pool_pre_ping=False,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_recycle=3600,
        connect_args={
            "connect_timeout": max(1, int(connect_timeout_s)),
            "application_name": "sovereign-agent",
            # A cluster created under the C locale is SQL_ASCII, and psycopg then hands back
            # bytes, not str (SQLAlchemy fails reading the server version): ask for UTF-8.
            "client_encoding": "utf8",
        },
    )
    _check_on_checkout(engine, ping_idle_s)
    if password is not None:
        _with_password(engine, password)
    return engine


def _check_on_checkout(engine: Engine, ping_idle_s: float) -> None:
    """A PostgreSQL restart, or a backend terminated, costs no failed request and no round
    trip per request. An idle connection's socket has nothing to read unless the server
    spoke first: a server going away sends its FATAL and closes, so a readable socket when
    the connection is taken means it is gone (a zero-timeout poll, no I/O). It is replaced,
    as SQLAlchemy does after a failed pre-ping. One idle longer than ``ping_idle_s`` is
    pinged as well (a peer that vanished without a word)."""

    @event.listens_for(engine, "checkin")
    def _returned(_dbapi_connection: Any, record: Any) -> None:
        record.info["returned"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _taken(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        fd = dbapi_connection.fileno()
        readable, _, _ = select.select([fd], [], [], 0)
        if readable:
            raise exc.DisconnectionError("the server closed the connection")
        returned = record.info.get("returned")
        if returned is not None and time.monotonic() - returned > ping_idle_s:
            try:
                engine.dialect.do_ping(dbapi_connection)
                dbapi_connection.rollback()  # the ping's SELECT opened a transaction
            except Exception as error:
                raise exc.DisconnectionError(f"ping failed: {error}") from error


def _with_password(engine: Engine, password: PasswordSource) -> None:
    @event.listens_for(engine, "do_connect")
    def _connect(dialect: Any, _record: Any, cargs: Any, cparams: dict[str, Any]) -> Any:
        # A copy: cparams is kept by the engine, the password must not be.
        try:
            return dialect.connect(*cargs, **{**cparams, "password": password.get()})
        except dialect.loaded_dbapi.OperationalError as exc:
            if "password authentication failed" not in str(exc):
                raise
        password.refresh()
        return dialect.connect(*cargs, **{**cparams, "password": password.get()})


def describe(engine: Engine) -> str:
    """Where the data goes, safe to log: scheme, host, port, database; no user, no password."""
    url = engine.url
    if url.get_backend_name() == "sqlite":
        return f"sqlite:{url.database or MEMORY}"
    port = f":{url.port}" if url.port else ""
    return f"postgresql://{url.host or ''}{port}/{url.database or ''}"
