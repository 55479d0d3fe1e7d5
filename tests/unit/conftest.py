"""Fixtures the unit suites share: one PostgreSQL 15 cluster per session, the agent's
database on either dialect (embedded SQLite, or PostgreSQL as the agent's own role), and the
real SMTP server and webhook receiver that notifications and alerts are delivered to."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from appliance.database.connect import open_postgres, open_sqlite
from appliance.database.engine import postgres_engine, sqlite_engine
from appliance.database.repository import Store
from tests import support
from tests.support import PostgresServer
from tests.unit.notifications.receivers import SmtpReceiver, WebhookReceiver

#: The agent's role: LOGIN and the owner of its database, nothing more (what the role gets on
#: the appliance), so these tests prove the migrations need no other privilege.
AGENT_ROLE = "sovereign_agent"


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    with support.postgres_server() as server:
        yield server


@pytest.fixture(scope="session")
def agent_role_password(postgres_server: PostgresServer) -> str:
    password = secrets.token_urlsafe(18)
    postgres_server.create_role(AGENT_ROLE, password)
    return password


class FixedPassword:
    """A PasswordSource that counts how often it was asked to forget its value."""

    def __init__(self, password: str) -> None:
        self.password = password
        self.refreshes = 0

    def get(self) -> str:
        return self.password

    def refresh(self) -> None:
        self.refreshes += 1


class AgentDatabase:
    """One empty database of the agent; every engine and store made here is closed after."""

    def __init__(self, dialect: str, location: str, password: str | None = None) -> None:
        self.dialect = dialect
        #: The SQLite file, or the PostgreSQL URL (no password in it).
        self.location = location
        self.password = password
        self._engines: list[Engine] = []
        self._stores: list[Store] = []

    def engine(self) -> Engine:
        if self.dialect == "sqlite":
            engine = sqlite_engine(self.location)
        else:
            engine = postgres_engine(self.location, FixedPassword(self.password or ""))
        self._engines.append(engine)
        return engine

    def store(self, lock_timeout_s: float = 30.0) -> Store:
        if self.dialect == "sqlite":
            store = open_sqlite(Path(self.location), lock_timeout_s)
        else:
            password = FixedPassword(self.password or "")
            store = open_postgres(self.location, password, lock_timeout_s=lock_timeout_s)
        self._stores.append(store)
        return store

    def close(self) -> None:
        for store in self._stores:
            store.close()
        for engine in self._engines:
            engine.dispose()


def new_agent_database(
    request: pytest.FixtureRequest, dialect: str, directory: Path
) -> AgentDatabase:
    if dialect == "sqlite":
        return AgentDatabase("sqlite", str(directory / "sub" / "agent.db"))
    server: PostgresServer = request.getfixturevalue("postgres_server")
    password: str = request.getfixturevalue("agent_role_password")
    name = f"agent_{secrets.token_hex(4)}"
    server.create_database(name, owner=AGENT_ROLE)
    return AgentDatabase("postgresql", server.tcp_url(AGENT_ROLE, name), password)


@pytest.fixture(params=["sqlite", "postgresql"])
def agent_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[AgentDatabase]:
    database = new_agent_database(request, request.param, tmp_path)
    yield database
    database.close()


@pytest.fixture
def smtp() -> Iterator[SmtpReceiver]:
    server = SmtpReceiver().start()
    yield server
    server.stop()


@pytest.fixture
def webhook() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    yield receiver
    receiver.close()
