"""Revision 0007 (``notification_channels.declared``) on both dialects: up with the channels
already there kept as not declared, down dropping only the column, up again without drift."""

from __future__ import annotations

from sqlalchemy import Engine, inspect, text

from appliance.database.migrate import current, downgrade, upgrade
from tests.unit.conftest import AgentDatabase
from tests.unit.database.test_notification_schema import drift

CHANNEL = (
    "INSERT INTO notification_channels (name, kind, options, secret, enabled, created_at, "
    "updated_at) VALUES (:name, 'webhook', '{}', NULL, :enabled, 1.0, 2.0)"
)


def columns(engine: Engine) -> list[str]:
    return [str(c["name"]) for c in inspect(engine).get_columns("notification_channels")]


def channels(engine: Engine) -> list[tuple[object, ...]]:
    with engine.connect() as c:
        query = text("SELECT * FROM notification_channels ORDER BY name")
        return [tuple(r) for r in c.execute(query)]


def test_0007_round_trip_keeps_channels_and_has_no_drift(agent_db: AgentDatabase) -> None:
    engine = agent_db.engine()
    upgrade(engine, "0006")
    with engine.begin() as c:
        c.execute(text(CHANNEL), [{"name": "a", "enabled": True}, {"name": "b", "enabled": False}])
    before = channels(engine)

    upgrade(engine)
    assert current(engine) >= ("0007",)
    assert drift(engine) == []
    assert columns(engine)[-1] == "declared"
    # Channels older than the column: not known to be the inventory's, so an admin's.
    assert channels(engine) == [(*row, False) for row in before]
    with engine.begin() as c:
        c.execute(text("UPDATE notification_channels SET declared = true WHERE name = 'a'"))
        c.execute(text(CHANNEL), {"name": "c", "enabled": True})  # the default: not declared
    assert [row[-1] for row in channels(engine)] == [True, False, False]

    downgrade(engine, "0006")
    assert current(engine) == ("0006",) and "declared" not in columns(engine)
    assert channels(engine)[:2] == before and len(channels(engine)) == 3

    upgrade(engine)
    assert drift(engine) == [] and [row[-1] for row in channels(engine)] == [False] * 3
