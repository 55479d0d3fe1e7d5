"""Token checks and audit appends survive PostgreSQL dropping the agent's connections (what a
restart or ``pg_terminate_backend`` does): the pool replaces a connection the server closed
when it is taken, so no call fails, and no round trip is spent per call to find out."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import event

from appliance.security.audit import AuditEvent, AuditLog, AuditQuery
from appliance.security.roles import Role
from appliance.security.tokens import TokenService
from tests.support import PostgresServer, wait_until
from tests.unit.conftest import AgentDatabase, new_agent_database


@pytest.fixture
def pg_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[AgentDatabase]:
    database = new_agent_database(request, "postgresql", tmp_path)
    yield database
    database.close()


def backends(server: PostgresServer, database: str) -> int:
    import psycopg

    with psycopg.connect(server.superuser_dsn(), autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (database,)
        ).fetchone()
    return int(row[0]) if row else 0


def terminate_backends(server: PostgresServer, database: str) -> None:
    """What a restart does to the agent's connections: the server ends each one."""
    from psycopg import sql

    server.execute(
        sql.SQL("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = {}").format(
            sql.Literal(database)
        )
    )
    wait_until(lambda: backends(server, database) == 0, 10, "the backends to exit")


def test_calls_after_the_server_dropped_every_connection_succeed(
    pg_db: AgentDatabase, postgres_server: PostgresServer
) -> None:
    store = pg_db.store()
    tokens = TokenService(store, cache_ttl_s=0.0)
    audit = AuditLog(store)
    secret = tokens.create("ops", Role.OPERATOR, created_by="test").secret
    statements: list[str] = []
    event.listen(
        store.engine, "before_cursor_execute", lambda *a: statements.append(str(a[2])[:40])
    )
    # Fill the pool with several connections, then have the server close all of them.
    for _ in range(3):
        tokens.verify(secret)
        audit.append(AuditEvent("ops", "thing.do"))
    database = pg_db.location.rsplit("/", 1)[1]
    assert backends(postgres_server, database) >= 1
    terminate_backends(postgres_server, database)

    statements.clear()
    for i in range(5):
        assert tokens.verify(secret).name == "ops"
        audit.append(AuditEvent("ops", "thing.do", target=str(i)))
    assert len(audit.query(AuditQuery(action="thing.do", limit=100))[0]) == 8
    assert audit.verify().ok
    # No pre-ping: each call's statements are its own (no SELECT 1 before them).
    assert not [s for s in statements if s.strip().upper().startswith("SELECT 1")]
