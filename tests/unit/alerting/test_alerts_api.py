"""/api/alerts on the real app with real tokens over a SQLite database: the seed's curl body,
422s naming the field, built-in rules overridden by id, roles, audit, and an evaluation that
reaches the real Dispatcher."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import pytest

from appliance.alerting.service import AlertingService
from appliance.security.audit import AuditQuery
from tests.unit.agent.factories import snapshot
from tests.unit.api.conftest import Agent, start_agent

#: The issue's curl body, as written.
SPEC_BODY = {
    "name": "High CPU Usage",
    "description": "CPU usage above 90%",
    "severity": "warning",
    "service": "data-processing",
    "threshold": 90,
}


@pytest.fixture
def agent() -> Iterator[Agent]:
    with ExitStack() as stack:
        yield start_agent(stack)


def alerting(agent: Agent) -> AlertingService:
    assert agent.runtime.alerting is not None
    return agent.runtime.alerting


def post(agent: Agent, body: dict[str, Any], role: str = "operator") -> Any:
    return agent.send("POST", "/api/alerts", token=agent.tokens[role], json=body)


def test_the_spec_example_is_accepted_with_its_defaults_and_is_nodata(agent: Agent) -> None:
    r = post(agent, SPEC_BODY)
    assert r.status_code == 201, r.text
    rule = r.json()
    assert (rule["metric"], rule["condition"], rule["threshold"]) == ("cpu_percent", ">", 90.0)
    assert (rule["for"], rule["enabled"], rule["builtin"]) == (0.0, True, False)
    assert rule["created_by"] == "test-operator"

    alerting(agent).evaluate_once()
    got = agent.client.get(f"/api/alerts/{rule['id']}").json()
    # No service called data-processing reports a CPU figure: nodata, not an error.
    assert got["state"] == "nodata"
    assert [a["labels"]["service"] for a in got["alerts"]] == ["data-processing"]
    records, _ = agent.security.audit.query(AuditQuery(action="alert.rule.create"))
    assert [(r.actor, r.target, r.outcome) for r in records] == [
        ("test-operator", rule["id"], "success")
    ]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x"}, "threshold"),
        ({"name": "x", "threshold": "ninety"}, "threshold"),
        ({"name": "x", "threshold": 1, "condition": "=>"}, "condition"),
        ({"name": "x", "threshold": 1, "severity": "fatal"}, "severity"),
        ({"name": "x", "threshold": 1, "for": "soon"}, "for"),
        ({"name": "x", "threshold": 1, "metric": "CPU %"}, "metric"),
        ({"name": "x", "threshold": 1, "labels": {"alertname": "y"}}, "labels"),
        ({"name": "", "threshold": 1}, "name"),
        ({"name": "x", "threshold": 1, "colour": "red"}, "colour"),
    ],
)
def test_a_bad_rule_is_a_422_naming_the_field(
    agent: Agent, body: dict[str, Any], field: str
) -> None:
    r = post(agent, body)
    assert r.status_code == 422, r.text
    assert ["body", field] in [d["loc"][:2] for d in r.json()["error"]["details"]]
    assert field in r.json()["error"]["reason"]


def test_built_in_rules_are_listed_and_overridden_by_id(agent: Agent) -> None:
    rules = {r["id"]: r for r in agent.client.get("/api/alerts").json()["rules"]}
    assert {
        "builtin-pool-capacity-90",
        "builtin-pool-degraded",
        "builtin-tls-certificate-expiry",
    } <= set(rules)
    assert all(r["builtin"] and r["enabled"] for r in rules.values())

    url = "/api/alerts/builtin-pool-capacity-90"
    r = agent.send("PUT", url, token=agent.tokens["operator"], json={"threshold": 50})
    assert r.status_code == 200, r.text
    assert (r.json()["threshold"], r.json()["severity"]) == (50.0, "warning")
    alerting(agent).evaluate_once()
    got = agent.client.get(url).json()
    # The captured pool 'tank' is 54.38 % full: over the lowered threshold.
    assert got["state"] == "firing"
    assert [a["labels"]["pool"] for a in got["alerts"]] == ["tank"]
    dispatcher = agent.runtime.dispatcher
    assert dispatcher is not None
    (stored,) = [a for a in dispatcher.store.alerts() if a.rule_id == "builtin-pool-capacity-90"]
    assert stored.firing and stored.labels["pool"] == "tank"

    r = agent.send("PUT", url, token=agent.tokens["operator"], json={"enabled": False})
    assert r.json()["enabled"] is False and r.json()["state"] == "inactive"
    (stored,) = [a for a in dispatcher.store.alerts() if a.rule_id == "builtin-pool-capacity-90"]
    assert not stored.firing  # disabling resolved it


def test_an_update_is_checked_whole_and_names_the_field(agent: Agent) -> None:
    rule = post(agent, {"name": "x", "threshold": 1, "condition": "=="}).json()
    url = f"/api/alerts/{rule['id']}"
    r = agent.send("PUT", url, token=agent.tokens["operator"], json={"hysteresis": 2})
    assert r.status_code == 422, r.text
    assert "hysteresis" in r.json()["error"]["reason"]
    r = agent.send("PUT", url, token=agent.tokens["operator"], json={"threshold": "high"})
    assert r.status_code == 422 and r.json()["error"]["details"][0]["loc"] == ["body", "threshold"]
    assert agent.client.get(url).json()["threshold"] == 1.0


@pytest.mark.parametrize(
    ("role", "method", "expected"),
    [
        (None, "GET", 401),
        ("scrape", "GET", 403),
        ("viewer", "GET", 200),
        ("viewer", "POST", 403),
        ("viewer", "PUT", 403),
        ("operator", "POST", 201),
        ("operator", "DELETE", 403),
        ("admin", "DELETE", 403),  # admin, but no TOTP step-up
    ],
)
def test_roles(agent: Agent, role: str | None, method: str, expected: int) -> None:
    rule = post(agent, SPEC_BODY).json()
    url = "/api/alerts" if method in ("GET", "POST") else f"/api/alerts/{rule['id']}"
    body = SPEC_BODY if method == "POST" else {"threshold": 80} if method == "PUT" else None
    r = agent.send(method, url, token=agent.tokens[role] if role else None, json=body)
    assert r.status_code == expected, r.text
    if method == "DELETE":
        assert agent.client.get(url).status_code == 200  # still there


def test_unknown_rules_are_404(agent: Agent) -> None:
    assert agent.client.get("/api/alerts/nope").status_code == 404
    r = agent.send("PUT", "/api/alerts/nope", token=agent.tokens["operator"], json={})
    assert r.status_code == 404


def test_a_firing_rule_over_the_hosts_cpu_reaches_the_dispatcher(agent: Agent) -> None:
    rule = post(agent, {**SPEC_BODY, "service": "host", "threshold": 50, "for": "30s"}).json()
    agent.collector.push(snapshot(ts=1002.0, cpu=97.0))
    while agent.runtime.sampler.sample_once().cpu_percent != 97.0:
        pass
    service = alerting(agent)
    service.evaluate_once(now=2000.0)
    assert agent.client.get(f"/api/alerts/{rule['id']}").json()["state"] == "pending"
    service.evaluate_once(now=2031.0)
    got = agent.client.get(f"/api/alerts/{rule['id']}").json()
    assert got["state"] == "firing" and got["alerts"][0]["value"] == 97.0
    assert agent.runtime.dispatcher is not None
    (stored,) = [a for a in agent.runtime.dispatcher.store.alerts() if a.rule_id == rule["id"]]
    assert (stored.status, stored.starts_at, stored.labels["alertname"]) == (
        "firing",
        2031.0,
        "High CPU Usage",
    )


def test_history_is_no_rule_id_and_a_null_clears_only_service_and_channels(agent: Agent) -> None:
    r = agent.send("PUT", "/api/alerts/history", token=agent.tokens["operator"], json={})
    assert r.status_code == 405 and r.headers["allow"] == "GET"
    rule = post(agent, {**SPEC_BODY, "channels": ["ops"]}).json()
    body = {"service": None, "channels": None, "severity": None, "threshold": None}
    r = agent.send("PUT", f"/api/alerts/{rule['id']}", token=agent.tokens["operator"], json=body)
    assert r.status_code == 200, r.text
    got = r.json()
    assert (got["service"], got["channels"]) == (None, None)
    assert (got["severity"], got["threshold"]) == ("warning", 90.0)


def test_strict_types_refuse_what_json_would_not_call_a_number_or_a_boolean(agent: Agent) -> None:
    for field, value in (("threshold", "90"), ("enabled", 0), ("hysteresis", True)):
        r = post(agent, {**SPEC_BODY, field: value})
        assert r.status_code == 422 and r.json()["error"]["details"][0]["loc"] == ["body", field]
