"""Deleting a rule is privileged: an admin with a TOTP code (real Vault: OpenBao dev server)
deletes it, its firing alert resolves, and the audit says how the step-up was given."""

from __future__ import annotations

from collections.abc import Callable

from appliance.security.audit import AuditQuery
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
