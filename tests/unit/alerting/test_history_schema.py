"""Revision 0005 (alert tables) on both dialects: up, down with the older data kept, up again
without drift; a filtered history page is served by its index."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, func, insert, inspect, select

from appliance.database.migrate import compare_type, current, downgrade, upgrade
from appliance.database.schema import alert_history, metadata
from appliance.security.roles import Role
from appliance.security.tokens import TokenService
from tests.unit.conftest import AgentDatabase

ALERT_TABLES = ("alert_rules", "alert_states", "alert_history")


def drift(engine: Engine) -> list[object]:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": compare_type})
        return list(compare_metadata(context, metadata))


def add_history_row(engine: Engine) -> None:
    with engine.begin() as c:
        c.execute(
            insert(alert_history).values(
                ts=1.0,
                rule_id="r",
                fingerprint="f",
                alertname="a",
                status="firing",
                previous="pending",
                severity="warning",
                value=91.0,
                labels="{}",
                annotations="{}",
            )
        )


def test_0005_round_trip_keeps_older_rows_and_has_no_drift(agent_db: AgentDatabase) -> None:
    engine = agent_db.engine()
    upgrade(engine, "0005")
    assert current(engine) == ("0005",)
    assert set(ALERT_TABLES) <= set(inspect(engine).get_table_names())
    names = {ix["name"] for ix in inspect(engine).get_indexes("alert_history")}
    assert {"ix_alert_history_rule_id_id", "ix_alert_history_ts"} <= names
    tokens = TokenService(agent_db.store())
    tokens.create("keeper", Role.ADMIN, created_by="test")
    add_history_row(engine)

    downgrade(engine, "0004")
    assert not set(ALERT_TABLES) & set(inspect(engine).get_table_names())
    assert [t.name for t in tokens.list()] == ["keeper"]

    upgrade(engine)
    assert drift(engine) == []
    add_history_row(engine)  # the tables work again after the round trip
    with engine.connect() as c:
        assert c.execute(select(func.count()).select_from(alert_history)).scalar() == 1
