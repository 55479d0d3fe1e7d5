"""Revision 0004 (notification tables) on both dialects: up, down with the older data kept,
up again without drift; the outbox's idempotency key is unique per caller."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, func, insert, inspect, select
from sqlalchemy.exc import IntegrityError

from appliance.database.migrate import code_revisions, compare_type, current, downgrade, upgrade
from appliance.database.schema import (
    metadata,
    notification_attempts,
    notification_channels,
    notification_preferences,
    notification_templates,
    notifications,
)
from appliance.security.roles import Role
from appliance.security.tokens import TokenService
from tests.unit.conftest import AgentDatabase

NOTIFICATION_TABLES = (
    "notification_channels",
    "notifications",
    "notification_attempts",
    "notification_preferences",
    "notification_templates",
)


def drift(engine: Engine) -> list[object]:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": compare_type})
        return list(compare_metadata(context, metadata))


def outbox_row(key: str | None, by: str = "ops") -> dict[str, object]:
    return {
        "idempotency_key": key,
        "created_by": by,
        "user_id": "user123",
        "type": "email",
        "channel": "email",
        "recipient": "user123@example.com",
        "severity": "info",
        "subject": "s",
        "message": "m",
        "data": "{}",
        "status": "pending",
        "created_at": 1.0,
        "next_attempt_at": 1.0,
        "attempt_count": 0,
    }


def fill(engine: Engine) -> int:
    with engine.begin() as c:
        c.execute(
            insert(notification_channels),
            {
                "name": "email",
                "kind": "email",
                "options": "{}",
                "secret": "notify/email",
                "enabled": True,
                "created_at": 1.0,
                "updated_at": 1.0,
            },
        )
        nid = int(c.execute(insert(notifications), outbox_row("k1")).inserted_primary_key[0])
        c.execute(
            insert(notification_attempts),
            {
                "notification_id": nid,
                "ts": 2.0,
                "channel": "email",
                "outcome": "failed",
                "error": "refused",
                "duration_ms": 3.0,
            },
        )
        c.execute(
            insert(notification_preferences),
            {
                "user_id": "user123",
                "channel": "email",
                "enabled": True,
                "min_severity": "info",
                "timezone": "UTC",
                "updated_at": 1.0,
            },
        )
        c.execute(
            insert(notification_templates),
            {
                "name": "t",
                "subject": "{{ a }}",
                "text": "{{ b }}",
                "created_by": "ops",
                "created_at": 1.0,
                "updated_at": 1.0,
            },
        )
    return nid


def test_0004_round_trip_keeps_older_rows_and_has_no_drift(agent_db: AgentDatabase) -> None:
    engine = agent_db.engine()
    upgrade(engine, "0004")
    assert current(engine) == ("0004",)
    assert set(NOTIFICATION_TABLES) <= set(inspect(engine).get_table_names())
    tokens = TokenService(agent_db.store())
    tokens.create("keeper", Role.ADMIN, created_by="test")
    nid = fill(engine)
    with engine.connect() as c:
        assert c.execute(select(notifications.c.status).where(notifications.c.id == nid)).one() == (
            "pending",
        )
        assert c.execute(select(func.count()).select_from(notification_attempts)).scalar() == 1

    downgrade(engine, "0003")
    assert current(engine) == ("0003",)
    assert not set(NOTIFICATION_TABLES) & set(inspect(engine).get_table_names())
    assert [t.name for t in tokens.list()] == ["keeper"]

    upgrade(engine)
    assert current(engine) == code_revisions()[1]
    assert drift(engine) == []
    with engine.connect() as c:
        assert c.execute(select(func.count()).select_from(notifications)).scalar() == 0
    fill(engine)  # the tables work again after the round trip


def test_idempotency_key_is_unique_per_caller(agent_db: AgentDatabase) -> None:
    engine = agent_db.engine()
    upgrade(engine)
    with engine.begin() as c:
        c.execute(insert(notifications), outbox_row("same", by="a"))
        c.execute(insert(notifications), outbox_row("same", by="b"))  # another caller
        c.execute(insert(notifications), outbox_row(None))
        c.execute(insert(notifications), outbox_row(None))  # no key: never a conflict
    with pytest.raises(IntegrityError), engine.begin() as c:
        c.execute(insert(notifications), outbox_row("same", by="a"))
