from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance.store import Sample, Store, StoreError, open_postgres, open_sqlite


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        s = open_sqlite(tmp_path / "sub" / "agent.db")
    else:
        dsn = request.getfixturevalue("postgres_dsn")
        s = open_postgres(dsn, "postgresql://test")
        # One cluster for the session: start each test from empty tables.
        s._run(
            lambda cur: (
                cur.execute("DELETE FROM metric_samples"),
                cur.execute("DELETE FROM agent_state"),
            )
        )
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
    open_sqlite(path).close()
    again = open_sqlite(path)
    again.add_samples(1.0, {"m": 1.0})
    assert again.history("m") == [Sample(1.0, 1.0)]


def test_failure_is_a_store_error_and_rolls_back(store: Store) -> None:
    with pytest.raises(StoreError):
        store._run(lambda cur: cur.execute("SELECT * FROM no_such_table"))
    # The connection is usable again after the rollback.
    store.add_samples(5.0, {"m": 5.0})
    assert store.history("m") == [Sample(5.0, 5.0)]


def test_postgres_connection_error_names_no_password(postgres_dsn: str) -> None:
    bad = postgres_dsn.replace("postgres@", "postgres:hunter2@").rsplit(":", 1)[0] + ":1/postgres"
    with pytest.raises(StoreError) as err:
        open_postgres(bad, "postgresql://127.0.0.1:1/postgres")
    assert "hunter2" not in str(err.value)
