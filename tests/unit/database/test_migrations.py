"""Alembic migrations on both dialects: round trips, adoption of the hand-rolled store's
database with its rows, refusals (a foreign table, a newer schema), all-or-nothing upgrades."""

from __future__ import annotations

from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, select, text

from appliance.database.errors import SchemaError, SchemaNewerThanCode
from appliance.database.migrate import code_revisions, compare_type, current, downgrade, upgrade
from appliance.database.repository import Sample
from appliance.database.schema import agent_state, metadata, metric_samples
from appliance.security.audit import AuditEvent, AuditLog
from appliance.security.roles import Role
from appliance.security.tokens import InvalidToken, TokenNameTaken, TokenService
from tests.unit.alerting.test_dispatcher_schema import DISPATCH_TABLES
from tests.unit.alerting.test_history_schema import ALERT_TABLES
from tests.unit.conftest import AgentDatabase
from tests.unit.database import legacy
from tests.unit.database.test_notification_schema import NOTIFICATION_TABLES

HEAD = code_revisions()[1]


def schema_drift(engine: Engine) -> list[Any]:
    """What autogenerate would change to make the database match schema.py: nothing, ideally."""
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": compare_type})
        return list(compare_metadata(context, metadata))


def rows(engine: Engine) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    with engine.connect() as connection:
        samples = connection.execute(
            select(metric_samples).order_by(metric_samples.c.name, metric_samples.c.ts)
        ).all()
        state = connection.execute(select(agent_state)).all()
    return [tuple(r) for r in samples], [tuple(r) for r in state]


def indexes(engine: Engine) -> set[str]:
    return {str(ix["name"]) for ix in inspect(engine).get_indexes("metric_samples")}


def tables(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names())


def test_code_has_one_head() -> None:
    assert HEAD == ("0010",)


def test_new_database_is_migrated_to_the_schema_of_the_code(agent_db: AgentDatabase) -> None:
    engine = agent_db.engine()
    upgrade(engine)
    assert current(engine) == HEAD
    assert tables(engine) == {
        "metric_samples",
        "agent_state",
        "api_tokens",
        "audit_log",
        *NOTIFICATION_TABLES,
        *ALERT_TABLES,
        *DISPATCH_TABLES,
        "spans",  # 0008
        "latency_probes",  # 0009
        "sync_documents",  # 0010
        "alembic_version",
    }
    assert schema_drift(engine) == []


def test_upgrade_downgrade_upgrade_round_trip_keeps_rows(agent_db: AgentDatabase) -> None:
    engine = agent_db.engine()
    store = agent_db.store()
    store.add_samples(10.0, {"m": 1.0})
    store.set_state("k", "v", 10.0)
    before = rows(engine)

    downgrade(engine, "0001")
    assert current(engine) == ("0001",)
    assert "ix_metric_samples_ts" not in indexes(engine)
    assert rows(engine) == before

    upgrade(engine, "head")
    assert current(engine) == HEAD
    assert "ix_metric_samples_ts" in indexes(engine)
    assert rows(engine) == before
    assert schema_drift(engine) == []
    assert store.history("m") == [Sample(10.0, 1.0)]


def test_downgrade_to_base_and_up_again(agent_db: AgentDatabase) -> None:
    engine = agent_db.engine()
    upgrade(engine)
    downgrade(engine, "base")
    assert current(engine) == ()
    assert tables(engine) <= {"alembic_version"}
    upgrade(engine)
    assert current(engine) == HEAD


def test_database_of_the_hand_rolled_store_is_adopted_with_its_rows(
    agent_db: AgentDatabase,
) -> None:
    legacy.create(agent_db)
    engine = agent_db.engine()
    assert current(engine) == ()  # no alembic_version: what a deployed host has

    store = agent_db.store()
    store.prepare()

    assert current(engine) == HEAD
    samples, state = rows(engine)
    assert sorted(samples) == sorted(legacy.SAMPLES)
    assert state == legacy.STATE
    assert schema_drift(engine) == []
    # The agent keeps working on the adopted data.
    assert store.history("cpu_percent", limit=2) == [Sample(148.0, 48.0), Sample(149.0, 49.0)]
    assert store.get_state("last_boot") == "2024-05-01"
    store.set_state("last_boot", "2024-06-01", 200.0)
    assert store.get_state("last_boot") == "2024-06-01"


def test_adoption_is_idempotent_after_a_partial_legacy_schema(agent_db: AgentDatabase) -> None:
    # The old store created its tables one statement at a time (autocommit on SQLite).
    legacy.create(agent_db, legacy.SCHEMA[:1])
    engine = agent_db.engine()
    upgrade(engine)
    assert current(engine) == HEAD
    assert schema_drift(engine) == []


def test_a_foreign_table_of_the_same_name_is_refused_and_left_alone(
    agent_db: AgentDatabase,
) -> None:
    engine = agent_db.engine()
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE agent_state (id INTEGER, payload TEXT)"))
        connection.execute(text("INSERT INTO agent_state VALUES (1, 'keep me')"))
    with pytest.raises(SchemaError, match="agent_state exists with columns"):
        upgrade(engine)
    assert tables(engine) == {"agent_state"}
    with engine.connect() as connection:
        assert connection.execute(text("SELECT payload FROM agent_state")).all() == [("keep me",)]


def test_a_failed_upgrade_leaves_nothing_half_done(agent_db: AgentDatabase) -> None:
    # Revision 0002's index name is taken (tables and indexes share one namespace on both
    # dialects): 0002 fails after 0001 created its tables; all of it must roll back.
    engine = agent_db.engine()
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE ix_metric_samples_ts (x INTEGER)"))
    with pytest.raises(SchemaError, match="upgrade failed"):
        upgrade(engine)
    assert tables(engine) == {"ix_metric_samples_ts"}
    assert current(engine) == ()


def test_a_database_newer_than_the_code_is_refused(agent_db: AgentDatabase) -> None:
    engine = agent_db.engine()
    upgrade(engine)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '0099'"))
        connection.execute(text("INSERT INTO agent_state VALUES ('k', 'v', 1.0)"))

    store = agent_db.store()
    with pytest.raises(SchemaNewerThanCode) as err:
        store.prepare()
    message = str(err.value)
    assert "0099" in message and HEAD[0] in message and "newer agent" in message
    # Nothing was touched: not downgraded, not re-stamped.
    assert current(engine) == ("0099",)
    assert rows(engine)[1] == [("k", "v", 1.0)]
    with pytest.raises(SchemaNewerThanCode):
        store.get_state("k")  # nor used


def test_tokens_and_audit_round_trip_on_0003(agent_db: AgentDatabase) -> None:
    """0003 down drops tokens and the audit log (and only them); up again they work, the
    older tables keep their rows throughout."""
    engine = agent_db.engine()
    store = agent_db.store()
    store.add_samples(10.0, {"m": 1.0})
    tokens = TokenService(store)
    audit = AuditLog(store)
    made = tokens.create("ops", Role.ADMIN, created_by="test")
    audit.append(AuditEvent(actor="ops", action="token.create", target="ops"))
    before = rows(engine)

    downgrade(engine, "0002")
    assert current(engine) == ("0002",)
    assert {"api_tokens", "audit_log"}.isdisjoint(tables(engine))
    assert rows(engine) == before

    upgrade(engine)
    assert current(engine) == HEAD
    assert schema_drift(engine) == []
    assert rows(engine) == before
    tokens.forget_cache()
    with pytest.raises(InvalidToken, match="unknown token"):
        tokens.verify(made.secret)  # its row went with the table
    again = tokens.create("ops", Role.VIEWER, created_by="test")
    assert tokens.verify(again.secret).role is Role.VIEWER
    assert audit.verify().ok and audit.verify().rows == 0


def test_an_active_token_name_is_unique_a_revoked_one_is_not(agent_db: AgentDatabase) -> None:
    """The partial unique index, on both dialects."""
    tokens = TokenService(agent_db.store())
    tokens.create("ops", Role.ADMIN, created_by="test")
    with pytest.raises(TokenNameTaken):
        tokens.create("ops", Role.VIEWER, created_by="test")
    tokens.revoke("ops")
    assert tokens.create("ops", Role.VIEWER, created_by="test").info.role is Role.VIEWER
