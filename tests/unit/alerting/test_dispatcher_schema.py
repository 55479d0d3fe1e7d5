"""Revision 0006 (the dispatcher's tables) on both dialects: up, down with older rows kept,
up again without drift."""

from __future__ import annotations

from sqlalchemy import Engine, inspect

from appliance.alerting.dispatch.store import DispatchStore
from appliance.alerting.models import Alert, AlertLevel, AlertStatus
from appliance.database.migrate import current, downgrade, upgrade
from tests.unit.alerting.test_history_schema import ALERT_TABLES, drift
from tests.unit.conftest import AgentDatabase

DISPATCH_TABLES = ("alert_dispatch", "alert_groups", "silences")


def tables(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names())


def test_0006_round_trip_keeps_older_tables_and_has_no_drift(agent_db: AgentDatabase) -> None:
    engine = agent_db.engine()
    upgrade(engine, "0006")
    assert current(engine) == ("0006",)
    assert set(DISPATCH_TABLES) <= tables(engine)
    store = DispatchStore(agent_db.store())
    firing = Alert({"alertname": "A"}, AlertStatus.FIRING, AlertLevel.ERROR, 1.0)
    assert store.upsert(firing, 2.0)
    store.add_silence(["alertname=A"], 1.0, 9.0, "op", "why", 1.0)

    downgrade(engine, "0005")
    assert not set(DISPATCH_TABLES) & tables(engine)
    assert set(ALERT_TABLES) <= tables(engine)

    upgrade(engine)
    assert drift(engine) == []
    assert store.alerts() == []  # the tables work again, empty
    assert store.upsert(firing, 3.0) and [a.received_at for a in store.alerts()] == [3.0]
