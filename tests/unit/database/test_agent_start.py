"""The agent and its database at start: migrated before the first sample, up without its
database (and catching up when it returns), refusing a schema newer than its code."""

from __future__ import annotations

import asyncio
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from appliance.database.engine import postgres_engine
from appliance.database.errors import DatabaseUnavailable, SchemaNewerThanCode
from appliance.database.migrate import code_revisions, current, upgrade
from appliance.database.repository import Sample, Store
from appliance.errors import BackendUnavailable
from appliance.health.models import ServiceStatus
from appliance.runtime import AgentRuntime
from appliance.secrets import SecretManager
from appliance.secrets.env import EnvBackend
from appliance.storage.service import ZfsBackend
from tests.unit.agent.factories import FakeCollector, make_settings, snapshot
from tests.unit.conftest import AgentDatabase, FixedPassword, new_agent_database
from tests.unit.database import legacy

HEAD = code_revisions()[1]


def no_zfs() -> ZfsBackend:
    raise BackendUnavailable("no ZFS in these tests")


def runtime(**settings: object) -> AgentRuntime:
    return AgentRuntime.build(
        make_settings(**settings),
        collect=FakeCollector(snapshot(ts=1000.0)).collect,
        zfs_backend=no_zfs,
        secrets=SecretManager(EnvBackend(), 300),
    )


def test_an_existing_host_database_is_migrated_at_start_and_keeps_its_history(
    tmp_path: Path,
) -> None:
    path = tmp_path / "agent.db"
    legacy.create(AgentDatabase("sqlite", str(path)))  # what the agent.toml's sqlite_path holds
    agent = runtime(sqlite_path=str(path))
    asyncio.run(agent.start(background=False))
    assert agent.store is not None
    assert current(agent.store.engine) == HEAD
    # The old rows, then the first sample of this start.
    assert agent.store.history("memory_percent") == [Sample(100.0, 42.5), Sample(1000.0, 20.0)]
    asyncio.run(agent.stop())


def test_the_agent_refuses_to_start_on_a_schema_newer_than_its_code(tmp_path: Path) -> None:
    path = tmp_path / "agent.db"
    legacy.create(AgentDatabase("sqlite", str(path)))
    with closing(sqlite3.connect(path)) as newer:
        newer.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY)")
        newer.execute("INSERT INTO alembic_version VALUES ('0099')")
        newer.commit()
    agent = runtime(sqlite_path=str(path))
    with pytest.raises(SchemaNewerThanCode, match="0099"):
        asyncio.run(agent.start(background=False))


def test_the_agent_starts_without_its_database_and_says_why(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = new_agent_database(request, "postgresql", tmp_path)
    request.addfinalizer(database.close)
    # The password is not in the secrets backend yet (Vault sealed, or not yet moved there).
    monkeypatch.delenv("APPLIANCE_SECRET_POSTGRES__SOVEREIGN_AGENT__PASSWORD", raising=False)
    agent = runtime(
        database_url=database.location, database_password_secret="postgres/sovereign_agent"
    )
    asyncio.run(agent.start(background=False))
    report = asyncio.run(agent.health.run_once())
    service = report.services["agent"]
    assert service.status is ServiceStatus.DEGRADED
    assert "postgresql://127.0.0.1" in service.message
    assert "postgres/sovereign_agent" in service.message
    asyncio.run(agent.stop())


def test_a_store_catches_up_when_its_database_returns(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    database = new_agent_database(request, "postgresql", tmp_path)
    request.addfinalizer(database.close)
    assert database.password is not None
    password = FixedPassword("wrong")
    now = [0.0]
    store = Store(postgres_engine(database.location, password), upgrade, clock=lambda: now[0])
    with pytest.raises(DatabaseUnavailable):
        store.prepare()
    asked = password.refreshes
    with pytest.raises(DatabaseUnavailable):  # within retry_s: not even tried
        store.add_samples(1.0, {"m": 1.0})
    assert password.refreshes == asked

    password.password = database.password
    now[0] = 31.0
    store.add_samples(1.0, {"m": 1.0})
    assert store.history("m") == [Sample(1.0, 1.0)]
    store.close()
