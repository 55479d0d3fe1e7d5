"""/api/silences, /api/alerts/{id}/ack and /api/alerting on the real app with real tokens:
roles, audit, bad input named, and the dispatcher's behaviour through them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import replace

import pytest

from appliance.alerting.dispatch.dispatcher import Dispatcher
from appliance.alerting.models import AlertLevel
from appliance.security.audit import AuditQuery
from tests.unit.alerting.dispatch_support import CHANNELS, alert, resolved
from tests.unit.api.conftest import Agent, start_agent
from tests.unit.notifications.conftest import Clock


@pytest.fixture
def agent() -> Iterator[Agent]:
    with ExitStack() as stack:
        yield start_agent(stack)


def dispatcher(agent: Agent) -> Dispatcher:
    d = agent.runtime.dispatcher
    assert d is not None and agent.runtime.notifications is not None
    for channel in CHANNELS:
        agent.runtime.notifications.outbox.put_channel(channel, create=True)
    return d


def actions(agent: Agent, action: str) -> list[tuple[str, str, str]]:
    records, _ = agent.security.audit.query(AuditQuery(action=action))
    return [(r.actor, r.target, r.outcome) for r in records]


def test_a_silence_made_through_the_api_holds_an_alert_until_it_is_expired(agent: Agent) -> None:
    d = dispatcher(agent)
    clock = Clock(d.clock())
    d.clock = clock
    operator = agent.tokens["operator"]
    body = {
        "matchers": ["alertname=PoolScrub", "pool=~tank.*"],
        "duration_s": 3600,
        "comment": "monthly scrub",
    }
    r = agent.send("POST", "/api/silences", token=operator, json=body)
    assert r.status_code == 201, r.text
    silence = r.json()
    assert silence["state"] == "active" and silence["created_by"] == "test-operator"
    assert silence["ends_at"] == pytest.approx(clock.now + 3600)

    d.submit(alert("PoolScrub", pool="tank"))
    clock.advance(300)
    assert d.tick() == []
    (shown,) = agent.client.get("/api/alerting/active").json()["alerts"]
    assert shown["silenced_by"] == [silence["id"]] and shown["receivers"] == ["team-slack"]

    viewer = agent.tokens["viewer"]
    r = agent.send("DELETE", f"/api/silences/{silence['id']}", token=viewer)
    assert r.status_code == 403
    r = agent.send("DELETE", f"/api/silences/{silence['id']}", token=operator)
    assert r.status_code == 200 and r.json()["state"] == "expired"
    (sent,) = d.tick()
    assert sent.channels == ("team-slack",)
    listed = agent.send("GET", "/api/silences?state=expired", token=viewer).json()
    assert [s["id"] for s in listed["silences"]] == [silence["id"]]
    assert agent.send("GET", "/api/silences?state=active", token=viewer).json()["silences"] == []
    assert actions(agent, "alerting.silence.create") == [
        ("test-operator", silence["id"], "success")
    ]
    assert actions(agent, "alerting.silence.expire") == [
        ("test-operator", silence["id"], "success")
    ]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"matchers": ["pool=~("], "duration_s": 60, "comment": "x"}, "matchers"),
        ({"matchers": [], "duration_s": 60, "comment": "x"}, "matchers"),
        ({"matchers": ["a=b"], "comment": "x"}, "ends_at"),
        ({"matchers": ["a=b"], "duration_s": 60, "comment": ""}, "comment"),
        ({"matchers": ["a=b"], "ends_at": 10.0, "comment": "x"}, "ends_at"),
    ],
)
def test_bad_silences_are_422_naming_the_field(
    agent: Agent, body: dict[str, object], field: str
) -> None:
    dispatcher(agent)
    r = agent.send("POST", "/api/silences", token=agent.tokens["operator"], json=body)
    assert r.status_code == 422
    assert field in r.json()["error"]["reason"]


def test_unknown_silences_are_404(agent: Agent) -> None:
    dispatcher(agent)
    missing = "0" * 32
    assert agent.client.get(f"/api/silences/{missing}").status_code == 404
    assert agent.client.delete(f"/api/silences/{missing}").status_code == 404
    assert agent.client.get("/api/silences/not-an-id").status_code == 422


def test_ack_by_fingerprint_or_by_rule_needs_an_operator_and_shows(agent: Agent) -> None:
    d = dispatcher(agent)
    a = alert("PoolFaulted", AlertLevel.CRITICAL)
    d.submit(a)
    ruled = alert("DiskFull", AlertLevel.ERROR, mount="/")
    d.submit(replace(ruled, rule_id="disk-full"))
    url = f"/api/alerts/{a.fingerprint}/ack"
    assert agent.send("POST", url, token=agent.tokens["viewer"]).status_code == 403
    r = agent.send("POST", url, token=agent.tokens["operator"])
    assert r.status_code == 200 and r.json() == {
        "acknowledged": [a.fingerprint],
        "by": "test-operator",
    }
    r = agent.send("POST", "/api/alerts/disk-full/ack", token=agent.tokens["operator"])
    assert r.json()["acknowledged"] == [ruled.fingerprint]
    assert (
        agent.send("POST", "/api/alerts/nothing/ack", token=agent.tokens["operator"]).status_code
        == 404
    )
    shown = {
        x["fingerprint"]: x["acked_by"]
        for x in agent.client.get("/api/alerting/active").json()["alerts"]
    }
    assert shown == {a.fingerprint: "test-operator", ruled.fingerprint: "test-operator"}
    assert ("test-operator", a.fingerprint, "success") in actions(agent, "alerting.ack")
    d.submit(resolved(a, d.clock()))
    firing = agent.client.get("/api/alerting/active", params={"status": "firing"}).json()
    assert [x["fingerprint"] for x in firing["alerts"]] == [ruled.fingerprint]
    gone = agent.client.get("/api/alerting/active", params={"status": "resolved"}).json()
    assert [x["fingerprint"] for x in gone["alerts"]] == [a.fingerprint]
