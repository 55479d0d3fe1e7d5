"""TOTP step-up on a real Vault (OpenBao dev server, KV v2 check-and-set): a privileged call
without a code is refused, with a valid code succeeds once, with the same code again is
refused; grants; enrolment; failed codes lock the address out."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import pyotp
import pytest

from appliance.security.audit import AuditQuery
from appliance.security.roles import Role
from appliance.security.stepup import StepUpError, StepUpService
from tests.unit.api.conftest import CLIENT, Agent
from tests.unit.secrets.conftest import VaultLab, bao_binary, vault  # noqa: F401 - fixtures
from tests.unit.security.conftest import Clock


@pytest.fixture
def totp_agent(agent_with: Callable[..., Agent], vault: VaultLab) -> Callable[..., Agent]:  # noqa: F811
    def make(**security: object) -> Agent:
        return agent_with(
            secrets={"backend": "vault", "vault": vault.settings().model_dump(mode="json")},
            totp={"issuer": "Sovereign Test"},
            security=security,
        )

    return make


def admin(agent: Agent) -> tuple[str, str]:
    """A fresh admin token (its own TOTP principal: Vault outlives the test)."""
    name = f"adm-{uuid.uuid4().hex[:10]}"
    return name, agent.security.tokens.create(name, Role.ADMIN, created_by="test").secret


def enrol(agent: Agent, vault: VaultLab, name: str, token: str) -> pyotp.TOTP:  # noqa: F811
    r = agent.send("POST", "/api/auth/totp/enrol", token=token, json={"principal": name})
    assert r.status_code == 200, r.text
    seed = vault.read(f"agent/totp/{name}")["seed"]
    assert r.json()["provisioning_uri"].startswith("otpauth://totp/")
    assert seed in r.json()["provisioning_uri"]
    return pyotp.TOTP(seed)


def create_admin(agent: Agent, token: str, headers: dict[str, str]) -> object:
    body = {"name": f"made-{uuid.uuid4().hex[:8]}", "role": "admin"}
    return agent.send("POST", "/api/auth/tokens", token=token, json=body, headers=headers)


def test_a_privileged_call_needs_a_code_accepted_once(
    totp_agent: Callable[..., Agent],
    vault: VaultLab,  # noqa: F811
) -> None:
    agent = totp_agent()
    name, token = admin(agent)
    otp = enrol(agent, vault, name, token)

    r = create_admin(agent, token, {})
    assert (r.status_code, r.json()["error"]["code"]) == (403, "step_up_required")
    code = otp.now()
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    r = create_admin(agent, token, {"X-TOTP-Code": wrong})
    assert (r.status_code, r.json()["error"]["code"]) == (403, "step_up_failed")
    r = create_admin(agent, token, {"X-TOTP-Code": code})
    assert r.status_code == 201, r.text
    r = create_admin(agent, token, {"X-TOTP-Code": code})
    assert (r.status_code, r.json()["error"]["code"]) == (403, "step_up_failed")
    assert "already used" in r.json()["error"]["reason"]

    records, _ = agent.security.audit.query(AuditQuery(actor=name))
    kinds = [(x.action, x.outcome, x.detail.get("step_up")) for x in reversed(records)]
    assert kinds == [
        ("totp.enrol", "success", None),
        ("token.create", "denied", None),
        ("auth.step_up_failure", "denied", None),
        ("token.create", "denied", None),
        ("token.create", "success", "code"),
        ("auth.step_up_failure", "denied", None),
        ("token.create", "denied", None),
    ]
    assert code not in str(records) and wrong not in str(records)
    assert otp.secret not in str(records)


def test_a_grant_serves_its_token_only_until_it_expires(
    totp_agent: Callable[..., Agent],
    vault: VaultLab,  # noqa: F811
) -> None:
    agent = totp_agent()
    name, token = admin(agent)
    otp = enrol(agent, vault, name, token)
    r = agent.send("POST", "/api/auth/step-up", token=token, json={"code": otp.now()})
    assert r.status_code == 200, r.text
    grant = r.json()["grant"]
    assert r.json()["expires_at"] == pytest.approx(time.time() + 300, abs=5)
    for _ in range(2):
        assert create_admin(agent, token, {"X-Step-Up": grant}).status_code == 201
    _, other = admin(agent)
    r = create_admin(agent, other, {"X-Step-Up": grant})
    assert r.status_code == 403 and "another token" in r.json()["error"]["reason"]
    assert create_admin(agent, token, {"X-Step-Up": "sg_forged"}).status_code == 403
    agent.client.delete(f"/api/auth/tokens/{name}")
    agent.security.tokens.forget_cache()
    assert create_admin(agent, token, {"X-Step-Up": grant}).status_code == 401


def test_grants_expire(totp_agent: Callable[..., Agent]) -> None:
    agent = totp_agent()
    clock = Clock()
    service = StepUpService(agent.security.step_up.totp, ttl_s=300, clock=clock)
    grant = service.issue("t_1")
    service.check_grant(grant.grant, "t_1")
    clock.advance(300)
    with pytest.raises(StepUpError, match="expired"):
        service.check_grant(grant.grant, "t_1")


def test_enrolment_once_renewal_with_step_up(
    totp_agent: Callable[..., Agent],
    vault: VaultLab,  # noqa: F811
) -> None:
    agent = totp_agent()
    name, token = admin(agent)
    otp = enrol(agent, vault, name, token)
    again = {"principal": name}
    r = agent.send("POST", "/api/auth/totp/enrol", token=token, json=again)
    assert r.status_code == 409
    renew = {"principal": name, "replace": True}
    r = agent.send("POST", "/api/auth/totp/enrol", token=token, json=renew)
    assert (r.status_code, r.json()["error"]["code"]) == (403, "step_up_required")
    headers = {"X-TOTP-Code": otp.now()}
    r = agent.send("POST", "/api/auth/totp/enrol", token=token, json=renew, headers=headers)
    assert r.status_code == 200 and otp.secret not in r.json()["provisioning_uri"]
    viewer = agent.tokens["viewer"]
    r = agent.send("POST", "/api/auth/totp/enrol", token=viewer, json={"principal": "x"})
    assert r.status_code == 403


def test_20_failed_codes_lock_the_address_out(
    totp_agent: Callable[..., Agent],
    vault: VaultLab,  # noqa: F811
) -> None:
    agent = totp_agent(auth_failure_burst=100)
    name, token = admin(agent)
    otp = enrol(agent, vault, name, token)
    valid = {otp.at(time.time() + d * 30) for d in (-1, 0, 1)}
    wrong = next(f"{n:06d}" for n in range(1_000_000) if f"{n:06d}" not in valid)
    answers = [
        agent.send("POST", "/api/auth/step-up", token=token, json={"code": wrong}).status_code
        for _ in range(20)
    ]
    assert answers == [403] * 20
    r = agent.send("POST", "/api/auth/step-up", token=token, json={"code": otp.now()})
    assert (r.status_code, r.json()["error"]["code"]) == (429, "locked_out")
    lockouts, _ = agent.security.audit.query(AuditQuery(action="auth.lockout"))
    assert [(x.actor, x.source) for x in lockouts] == [(name, CLIENT)]
