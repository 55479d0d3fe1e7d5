"""The history store's API, on embedded SQLite and on a real PostgreSQL as the agent's role."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from appliance.database.connect import open_postgres, open_sqlite
from appliance.database.errors import DatabaseUnavailable, StoreError
from appliance.database.repository import Sample, Store
from tests.unit.conftest import AgentDatabase, FixedPassword, new_agent_database


@pytest.fixture
def store(agent_db: AgentDatabase) -> Iterator[Store]:
    s = agent_db.store()
    s.prepare()
    yield s
    s.close()


def test_history_is_oldest_first_and_limited_to_the_newest(store: Store) -> None:
    for i in range(5):
        store.add_samples(100.0 + i, {"cpu_percent": float(i), "memory_percent": 50.0})
    assert store.history("cpu_percent", limit=3) == [
        Sample(102.0, 2.0),
        Sample(103.0, 3.0),
        Sample(104.0, 4.0),
    ]
    assert store.history("cpu_percent", since=103.0) == [Sample(103.0, 3.0), Sample(104.0, 4.0)]
    assert store.history("nothing") == []


def test_prune_removes_only_older_rows(store: Store) -> None:
    store.add_samples(1.0, {"m": 1.0})
    store.add_samples(2.0, {"m": 2.0})
    store.prune(before=2.0)
    assert store.history("m") == [Sample(2.0, 2.0)]


def test_state_upsert(store: Store) -> None:
    assert store.get_state("k") is None
    store.set_state("k", "one", 1.0)
    store.set_state("k", "two", 2.0)
    assert store.get_state("k") == "two"


def test_schema_creation_is_idempotent(tmp_path: Path) -> None:
    path = tmp_path / "agent.db"
    first = open_sqlite(path)
    first.prepare()
    first.close()
    again = open_sqlite(path)
    again.add_samples(1.0, {"m": 1.0})  # prepares on first use
    assert again.history("m") == [Sample(1.0, 1.0)]
    again.close()


def test_failure_is_a_store_error_and_rolls_back(store: Store) -> None:
    with pytest.raises(StoreError):
        store._run(lambda connection: connection.execute(text("SELECT * FROM no_such_table")))
    # The connection is usable again after the rollback.
    store.add_samples(5.0, {"m": 5.0})
    assert store.history("m") == [Sample(5.0, 5.0)]


def test_a_closed_store_raises_store_error(store: Store) -> None:
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.add_samples(1.0, {"m": 1.0})


def test_sampler_thread_writes_while_request_threads_read(store: Store) -> None:
    errors: list[BaseException] = []
    written = 200

    def writer() -> None:
        try:
            for i in range(written):
                store.add_samples(float(i), {"m": float(i), "n": 1.0})
        except BaseException as exc:
            errors.append(exc)

    def reader() -> None:
        try:
            seen = 0
            while seen < written:
                samples = store.history("m", limit=written)
                # Oldest first and never a half-written sample: each batch lands whole.
                assert [s.ts for s in samples] == [float(i) for i in range(len(samples))]
                seen = len(samples)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer)] + [
        threading.Thread(target=reader) for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    assert len(store.history("n", limit=10_000)) == written


def test_postgres_connection_error_names_no_password(agent_role_password: str) -> None:
    refused = open_postgres(
        "postgresql://sovereign_agent@127.0.0.1:1/agent", FixedPassword("hunter2")
    )
    with pytest.raises(DatabaseUnavailable) as err:
        refused.prepare()
    assert "hunter2" not in str(err.value)
    assert str(err.value).startswith("postgresql://127.0.0.1:1/agent: ")
    refused.close()


def test_postgres_wrong_password_is_refused_without_echo(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    agent_db = new_agent_database(request, "postgresql", tmp_path)
    password = FixedPassword("not-the-password-" + "x" * 8)
    store = open_postgres(agent_db.location, password)
    with pytest.raises(DatabaseUnavailable, match="password authentication failed") as err:
        store.prepare()
    assert password.password not in str(err.value)
    assert agent_db.password is not None and agent_db.password not in str(err.value)
    assert password.refreshes == 1  # asked once for a fresh value before giving up
    store.close()
    agent_db.close()
