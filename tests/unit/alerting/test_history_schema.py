"""Revision 0005 (alert tables) on both dialects: up, down with the older data kept, up again
without drift; the alert store (rules, states, history) on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, func, insert, inspect, select

from appliance.alerting.builtin import builtin_rules
from appliance.alerting.evaluation import Series, evaluate_rule
from appliance.alerting.history import HistoryQuery
from appliance.alerting.models import AlertStatus
from appliance.alerting.rules import RuleSpec
from appliance.alerting.store import AlertStore
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


def test_rules_states_and_history_on_both_dialects(agent_db: AgentDatabase) -> None:
    store = agent_db.store()
    alerts = AlertStore(store)
    assert alerts.seed(builtin_rules()) == len(builtin_rules())
    assert alerts.seed(builtin_rules()) == 0
    spec = RuleSpec.model_validate({"name": "Full", "metric": "m", "threshold": 90, "for": 30})
    rule = alerts.create(spec, "test")
    for now, value in ((100.0, 95.0), (130.0, 96.0), (160.0, 10.0)):
        previous = alerts.states().get(rule.id, {})
        out = evaluate_rule(rule, [Series({"pool": "tank"}, value)], previous, now)
        alerts.apply(out, now)
        if now == 130.0:
            (state,) = AlertStore(store).states()[rule.id].values()  # read back whole
            assert (state.status, state.pending_since, state.firing_since, state.last_value) == (
                AlertStatus.FIRING, 100.0, 130.0, 96.0,
            )  # fmt: skip
    entries, _ = alerts.history(HistoryQuery(rule_id=rule.id, since=100.0, until=160.0))
    assert [(e.previous, e.status) for e in entries] == [
        (AlertStatus.PENDING, AlertStatus.FIRING),
        (AlertStatus.INACTIVE, AlertStatus.PENDING),
    ]
    alerts.delete(rule.id)
    assert rule.id not in alerts.states() and rule.id not in {r.id for r in alerts.rules()}
