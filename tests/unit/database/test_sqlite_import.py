"""An appliance moving from SQLite to PostgreSQL keeps its history: copied once, then the file
is renamed so it is never imported twice; a PostgreSQL database with rows is never added to."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from sqlalchemy import func, select

from appliance.database.connect import open_store
from appliance.database.repository import Sample, Store
from appliance.database.schema import agent_state, metric_samples
from appliance.database.settings import DatabaseSettings
from appliance.secrets import SecretManager
from appliance.secrets.env import EnvBackend
from tests.unit.conftest import AgentDatabase, new_agent_database
from tests.unit.database import legacy

SECRET = "postgres/sovereign_agent"


@pytest.fixture
def postgres(request: pytest.FixtureRequest, tmp_path: Path) -> AgentDatabase:
    database = new_agent_database(request, "postgresql", tmp_path / "pg")
    request.addfinalizer(database.close)
    return database


@pytest.fixture
def old_sqlite(tmp_path: Path) -> Path:
    """The file the agent wrote before it was moved to PostgreSQL (the pre-Alembic schema)."""
    path = tmp_path / "agent.db"
    legacy.create(AgentDatabase("sqlite", str(path)))
    return path


def agent_store(
    postgres: AgentDatabase, sqlite_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Store:
    """As the agent opens it: settings, and the password through the SecretManager."""
    assert postgres.password is not None
    monkeypatch.setenv("APPLIANCE_SECRET_POSTGRES__SOVEREIGN_AGENT__PASSWORD", postgres.password)
    settings = DatabaseSettings(
        url=postgres.location, password_secret=SECRET, sqlite_path=sqlite_path
    )
    return open_store(settings, SecretManager(EnvBackend(), 300))


def counts(store: Store) -> tuple[int, int]:
    with store.engine.connect() as connection:
        samples = connection.execute(select(func.count()).select_from(metric_samples)).scalar()
        state = connection.execute(select(func.count()).select_from(agent_state)).scalar()
    return int(samples or 0), int(state or 0)


def test_history_is_imported_once_and_the_file_renamed(
    postgres: AgentDatabase, old_sqlite: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = agent_store(postgres, old_sqlite, monkeypatch)
    store.prepare()

    assert counts(store) == (len(legacy.SAMPLES), len(legacy.STATE))
    assert store.history("memory_percent") == [Sample(100.0, 42.5)]
    assert store.get_state("last_boot") == "2024-05-01"
    imported = old_sqlite.with_name("agent.db.imported")
    assert not old_sqlite.exists() and imported.is_file()
    # The renamed file is whole by itself: its write-ahead log was folded in.
    assert not old_sqlite.with_name("agent.db.imported-wal").exists()
    with closing(sqlite3.connect(imported)) as kept:
        assert kept.execute("SELECT count(*) FROM metric_samples").fetchone() == (
            len(legacy.SAMPLES),
        )
    store.close()

    # The next start imports nothing more, even if a file reappears at the old path.
    legacy.create(AgentDatabase("sqlite", str(old_sqlite)))
    again = agent_store(postgres, old_sqlite, monkeypatch)
    again.prepare()
    assert counts(again) == (len(legacy.SAMPLES), len(legacy.STATE))
    assert old_sqlite.is_file()  # left for the operator
    again.close()


def test_a_postgres_database_with_history_is_not_added_to(
    postgres: AgentDatabase, old_sqlite: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = agent_store(postgres, old_sqlite.with_name("absent.db"), monkeypatch)
    first.add_samples(500.0, {"cpu_percent": 1.0})
    first.close()

    store = agent_store(postgres, old_sqlite, monkeypatch)
    store.prepare()
    assert counts(store) == (1, 0)
    assert old_sqlite.is_file()
    store.close()


def test_a_file_it_cannot_read_is_kept_and_nothing_imported(
    postgres: AgentDatabase,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    path = tmp_path / "newer.db"
    legacy.create(AgentDatabase("sqlite", str(path)))
    with closing(sqlite3.connect(path)) as newer:  # as a newer agent would have left it
        newer.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY)")
        newer.execute("INSERT INTO alembic_version VALUES ('0099')")
        newer.commit()

    store = agent_store(postgres, path, monkeypatch)
    store.prepare()  # the agent starts on PostgreSQL all the same
    assert counts(store) == (0, 0)
    assert path.is_file()
    assert f"not importing {path}" in caplog.text and "0099" in caplog.text
    assert postgres.password is not None and postgres.password not in caplog.text
    store.close()
