"""Deleting a rule is privileged: an admin with a TOTP code (real Vault: OpenBao dev server)
deletes it, its firing alert resolves, and the audit says how the step-up was given."""

from __future__ import annotations

from collections.abc import Callable

from appliance.alerting.models import AlertLevel
from appliance.security.audit import AuditQuery
from tests.unit.alerting.dispatch_support import alert
from tests.unit.alerting.test_alerting_api import actions, dispatcher
from tests.unit.api.conftest import Agent, agent_with  # noqa: F401 - fixture
from tests.unit.api.test_stepup_api import admin, enrol, totp_agent  # noqa: F401 - fixture
from tests.unit.secrets.conftest import VaultLab, bao_binary, vault  # noqa: F401 - fixtures


def test_an_admin_with_a_totp_code_deletes_a_rule_and_its_alert_resolves(
    totp_agent: Callable[..., Agent],  # noqa: F811
    vault: VaultLab,  # noqa: F811
) -> None:
    agent = totp_agent()
    name, token = admin(agent)
    otp = enrol(agent, vault, name, token)
    body = {"name": "CpuOver5", "service": "host", "threshold": 5}
    rule = agent.send("POST", "/api/alerts", token=token, json=body).json()
    assert agent.runtime.alerting is not None and agent.runtime.dispatcher is not None
    agent.runtime.alerting.evaluate_once()  # the fake host's CPU is 10 %: firing
    url = f"/api/alerts/{rule['id']}"
    assert agent.client.get(url).json()["state"] == "firing"

    assert agent.send("DELETE", url, token=token).status_code == 403
    r = agent.send("POST", "/api/auth/step-up", token=token, json={"code": otp.now()})
    step_up = {"X-Step-Up": r.json()["grant"]}
    builtin = "/api/alerts/builtin-pool-degraded"
    r = agent.send("DELETE", builtin, token=token, headers=step_up)
    assert r.status_code == 409, r.text  # built in: disable it instead
    r = agent.send("DELETE", url, token=token, headers=step_up)
    assert r.status_code == 200, r.text
    assert agent.client.get(url).status_code == 404
    (stored,) = [a for a in agent.runtime.dispatcher.store.alerts() if a.rule_id == rule["id"]]
    assert not stored.firing
    records, _ = agent.security.audit.query(AuditQuery(action="alert.rule.delete"))
    got = [(r.actor, r.target, r.outcome, r.detail.get("step_up")) for r in records]
    assert got == [
        (name, rule["id"], "success", "grant"),
        (name, "builtin-pool-degraded", "failure", "grant"),
    ]


def test_routes_are_read_by_viewers_and_replaced_by_admins_with_a_step_up(
    totp_agent: Callable[..., Agent],  # noqa: F811
    vault: VaultLab,  # noqa: F811
) -> None:
    """Replacing the routing can silence paging: an admin with a TOTP step-up only; bad routes
    are 422 naming the field."""
    agent = totp_agent()
    d = dispatcher(agent)
    name, token = admin(agent)
    otp = enrol(agent, vault, name, token)
    viewer, operator = agent.tokens["viewer"], agent.tokens["operator"]
    shown = agent.send("GET", "/api/alerting/routes", token=viewer).json()
    assert shown["source"] == "config"
    critical = shown["routing"]["route"]["routes"][0]
    assert critical["matchers"] == ["severity=critical"] and "all" in critical["receivers"]

    # The first matching route continues, so the next one that matches takes it too.
    new = {
        "route": {
            "receivers": ["team-slack"],
            "routes": [
                {"matchers": ["severity=critical"], "receivers": ["oncall-pd"], "continue": True},
                {"matchers": ["severity=~critical|error"], "receivers": ["ops-mail"]},
            ],
        },
        "group_wait_s": 0,
    }
    assert agent.send("PUT", "/api/alerting/routes", token=operator, json=new).status_code == 403
    r = agent.send("PUT", "/api/alerting/routes", token=token, json=new)
    assert r.status_code == 403 and r.json()["error"]["code"].startswith("step_up"), r.text
    grant = agent.send("POST", "/api/auth/step-up", token=token, json={"code": otp.now()})
    step_up = {"X-Step-Up": grant.json()["grant"]}
    r = agent.send("PUT", "/api/alerting/routes", token=token, json=new, headers=step_up)
    assert r.status_code == 200, r.text
    assert r.json()["source"] == "api" and r.json()["routing"]["route"]["routes"][0]["continue"]
    d.submit(alert("PoolFaulted", AlertLevel.CRITICAL))
    assert sorted(c for s in d.tick() for c in s.channels) == ["oncall-pd", "ops-mail"]

    bad = {"route": {"routes": [{"matchers": ["severity=~("]}]}}
    r = agent.send("PUT", "/api/alerting/routes", token=token, headers=step_up, json=bad)
    assert r.status_code == 422 and "route.routes.0.matchers" in r.json()["error"]["reason"]
    r = agent.send(
        "PUT", "/api/alerting/routes", token=token, headers=step_up, json={"group_wait_s": -1}
    )
    assert r.status_code == 422 and "group_wait_s" in r.json()["error"]["reason"]
    assert agent.client.get("/api/alerting/routes").json()["source"] == "api"

    assert (
        agent.send("DELETE", "/api/alerting/routes", token=token, headers=step_up).json()["source"]
        == "config"
    )
    assert [a for a, _, o in actions(agent, "alerting.routes.update") if o == "success"] == [name]
