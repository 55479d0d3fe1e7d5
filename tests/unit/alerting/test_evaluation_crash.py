"""kill -9 on a real agent process: an alert firing before the kill is the same alert after the
restart (one firing transition in the history, the same start at the dispatcher), and a
condition that ended while the agent was down resolves on the first rounds after it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from appliance.alerting.dispatch.store import DispatchStore
from appliance.alerting.history import HistoryQuery
from appliance.alerting.store import AlertStore
from appliance.database.connect import open_sqlite
from appliance.database.repository import Store
from appliance.security.roles import Role
from appliance.security.tokens import TokenService
from tests.unit.agent_process import AgentProcess, wait_for
from tests.unit.notifications.receivers import free_port


@pytest.fixture
def drill(tmp_path: Path) -> Iterator[tuple[AgentProcess, Store, str]]:
    store = open_sqlite(tmp_path / "agent.db")
    store.prepare()
    token = TokenService(store).create("drill", Role.OPERATOR, created_by="test").secret
    agent = AgentProcess(tmp_path, free_port())
    agent.env["APPLIANCE_ALERTING__EVALUATION__INTERVAL_S"] = "0.2"
    agent.env["APPLIANCE_ALERTING__EVALUATION__CERTIFICATES"] = "[]"
    yield agent, store, token
    if agent.process is not None:
        agent.kill9()
    store.close()
    if (log := agent.log).exists():
        print(log.read_text()[-3000:])


def rule_of(agent: AgentProcess, token: str, rule_id: str) -> dict[str, Any]:
    r = httpx.get(f"{agent.url}/api/alerts/{rule_id}", headers={"Authorization": f"Bearer {token}"})
    body: dict[str, Any] = r.json()
    return body


def test_kill_9_keeps_a_firing_alert_and_resolves_what_ended_meanwhile(
    drill: tuple[AgentProcess, Store, str],
) -> None:
    agent, store, token = drill
    agent.start()
    body = {"name": "AlwaysBusy", "service": "host", "condition": ">=", "threshold": 0}
    headers = {"Authorization": f"Bearer {token}"}
    r = httpx.post(f"{agent.url}/api/alerts", headers=headers, json=body)
    assert r.status_code == 201, r.text
    rule_id = r.json()["id"]
    wait_for(lambda: rule_of(agent, token, rule_id)["state"] == "firing", 20.0, "never fired")
    (alert,) = rule_of(agent, token, rule_id)["alerts"]
    agent.kill9()

    agent.start()
    wait_for(
        lambda: rule_of(agent, token, rule_id)["alerts"][0]["evaluated_at"] > alert["evaluated_at"],
        20.0,
        "not evaluated after the restart",
    )
    (again,) = rule_of(agent, token, rule_id)["alerts"]
    assert again["firing_since"] == alert["firing_since"]
    entries, _ = AlertStore(store).history(HistoryQuery(rule_id=rule_id))
    assert [(e.previous, e.status) for e in entries] == [("inactive", "firing")]
    (sent,) = [a for a in DispatchStore(store).alerts() if a.rule_id == rule_id]
    assert sent.firing and sent.starts_at == alert["firing_since"]
    agent.kill9()

    alerts = AlertStore(store)  # while it is down, the condition ends
    alerts.replace(alerts.rule(rule_id).model_copy(update={"threshold": 1e9}))
    agent.start()
    wait_for(lambda: rule_of(agent, token, rule_id)["state"] == "resolved", 20.0, "not resolved")
    entries, _ = alerts.history(HistoryQuery(rule_id=rule_id))
    assert [(e.previous, e.status) for e in reversed(entries)] == [
        ("inactive", "firing"),
        ("firing", "resolved"),
    ]
    (sent,) = [a for a in DispatchStore(store).alerts() if a.rule_id == rule_id]
    assert not sent.firing and sent.starts_at == alert["firing_since"]
    assert sent.labels["alertname"] == "AlwaysBusy"
