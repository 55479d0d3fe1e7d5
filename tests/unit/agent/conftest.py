"""Agent fixtures: the session's PostgreSQL 15 cluster (tests/unit/conftest.py) as superuser."""

from __future__ import annotations

import pytest

from tests.support import PostgresServer


@pytest.fixture(scope="session")
def postgres_dsn(postgres_server: PostgresServer) -> str:
    return postgres_server.superuser_dsn()
