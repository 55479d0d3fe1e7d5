"""One migrator at a time: agents starting together all succeed on one consistent schema, a
migrator waits for the lock holder, and the wait is bounded."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest
from sqlalchemy import inspect, text

from appliance.database.errors import DatabaseUnavailable
from appliance.database.migrate import ADVISORY_LOCK_KEY, code_revisions, current, upgrade
from tests.unit.alerting.test_dispatcher_schema import DISPATCH_TABLES
from tests.unit.alerting.test_history_schema import ALERT_TABLES
from tests.unit.conftest import AgentDatabase
from tests.unit.database.test_notification_schema import NOTIFICATION_TABLES

HEAD = code_revisions()[1]


@contextmanager
def lock_held_elsewhere(database: AgentDatabase) -> Iterator[None]:
    """The migration lock, held by another client (as another agent would hold it)."""
    if database.dialect == "sqlite":
        other = sqlite3.connect(database.location, isolation_level=None)
        other.execute("PRAGMA journal_mode=WAL")
        other.execute("BEGIN EXCLUSIVE")
        try:
            yield
        finally:
            other.execute("ROLLBACK")
            other.close()
    else:
        with psycopg.connect(database.location, password=database.password) as conn:
            conn.execute("SELECT pg_advisory_lock(%s)", (ADVISORY_LOCK_KEY,))
            yield


def test_agents_starting_together_all_succeed_on_one_schema(agent_db: AgentDatabase) -> None:
    engines = [agent_db.engine() for _ in range(4)]
    start = threading.Barrier(len(engines))
    errors: list[BaseException] = []

    def migrate(index: int) -> None:
        start.wait()
        try:
            upgrade(engines[index], lock_timeout_s=60)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=migrate, args=(i,)) for i in range(len(engines))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a migrator is stuck"
    assert errors == []
    engine = engines[0]
    assert current(engine) == HEAD
    assert set(inspect(engine).get_table_names()) == {
        "metric_samples",
        "agent_state",
        "api_tokens",
        "audit_log",
        *NOTIFICATION_TABLES,
        *ALERT_TABLES,
        *DISPATCH_TABLES,
        "spans",
        "latency_probes",
        "sync_documents",
        "alembic_version",
    }
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1


def test_a_migrator_waits_for_the_lock_holder(agent_db: AgentDatabase) -> None:
    engine = agent_db.engine()
    upgrade(engine, "0001")  # something to read while the lock is held
    done = threading.Event()
    errors: list[BaseException] = []

    def migrate() -> None:
        try:
            upgrade(engine, lock_timeout_s=60)
        except BaseException as exc:
            errors.append(exc)
        done.set()

    with lock_held_elsewhere(agent_db):
        thread = threading.Thread(target=migrate)
        thread.start()
        assert not done.wait(1.0), "migrated while another client held the lock"
        assert current(agent_db.engine()) == ("0001",)
    assert done.wait(60)
    thread.join()
    assert errors == []
    assert current(engine) == HEAD


def test_the_wait_for_the_lock_is_bounded(agent_db: AgentDatabase) -> None:
    engine = agent_db.engine()
    with lock_held_elsewhere(agent_db):
        started = time.monotonic()
        with pytest.raises(DatabaseUnavailable, match="lock") as err:
            upgrade(engine, lock_timeout_s=0.5)
        assert time.monotonic() - started < 10
    assert str(err.value).startswith(f"{agent_db.dialect}")
    assert agent_db.password is None or agent_db.password not in str(err.value)
    upgrade(engine)  # the lock is free again
    assert current(engine) == HEAD
