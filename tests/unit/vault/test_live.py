"""roles.vault.client and desired against a real OpenBao, configured by the role's own template
(raft, TLS from controller.pki, static seal, file audit device): initialise, configure as
code, then what each AppRole may and may not do, drift, a restart and the audit log.

One server for the module; tests that change Vault by hand put it back before they end.
"""

from __future__ import annotations

import base64
import ipaddress
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hvac
import pytest
import requests
from hvac.exceptions import Forbidden, InvalidRequest, VaultError
from requests.adapters import HTTPAdapter

from roles.vault import client as vault_client
from roles.vault.desired import (
    ADMIN_ROLE,
    AGENT_ROLE,
    DEPLOY_ROLE,
    Change,
    Desired,
    desired,
    plan,
)
from tests.unit.vault.conftest import BaoServer

KV = "sovereign"
TRANSIT = "transit"


@dataclass
class Live:
    server: BaoServer
    first_status: dict[str, Any]
    init: dict[str, Any]
    first_plan: list[Change]
    want: Desired = field(default_factory=lambda: desired(KV, TRANSIT))
    # every secret a test handled, for the audit log check at the end
    secrets: list[str] = field(default_factory=list)

    @property
    def root_token(self) -> str:
        return str(self.init["root_token"])

    def root(self) -> hvac.Client:
        return self.server.client(self.root_token)

    def login(self, role: str, client: hvac.Client | None = None) -> hvac.Client:
        """A client logged in as `role` with a fresh secret-id (made with the root token)."""
        root = self.root()
        secret_id, _ = vault_client.new_secret_id(root, role)
        self.secrets.append(secret_id)
        vault = client or self.server.client()
        vault.auth.approle.login(role_id=vault_client.role_id(root, role), secret_id=secret_id)
        self.secrets.append(vault.token)
        return vault

    def plan(self, vault: hvac.Client | None = None) -> list[Change]:
        return plan(self.want, vault_client.read_state(vault or self.root(), self.want))


@pytest.fixture(scope="module")
def live(bao_binary: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    server = BaoServer.create(bao_binary, tmp_path_factory.mktemp("bao"))
    server.start()
    try:
        vault = server.client()
        first_status = vault_client.seal_status(vault, 10)
        init = vault_client.initialise(vault, automatic_unseal=True, shares=5, threshold=3)
        vault_client.wait_unsealed(vault, 20)
        vault.token = init["root_token"]
        want = desired(KV, TRANSIT)
        first_plan = plan(want, vault_client.read_state(vault, want))
        vault_client.apply(vault, first_plan)
        yield Live(server, first_status, init, first_plan)
    finally:
        server.stop(graceful=False)


@pytest.fixture(scope="module")
def deploy(live: Live) -> hvac.Client:
    return live.login(DEPLOY_ROLE)


@pytest.fixture(scope="module")
def agent(live: Live, deploy: hvac.Client) -> hvac.Client:
    for name, password in (("sovereign", "pg-monitor-pass-1"), ("nextcloud", "pg-nc-pass-2")):
        vault_client.put_secret(deploy, KV, f"postgres/{name}", {"password": password})
        live.secrets.append(password)
    return live.login(AGENT_ROLE)


class _FromAddress(HTTPAdapter):
    """Connections from another loopback address (127.0.0.0/8 all reach 127.0.0.1)."""

    def __init__(self, source: str) -> None:
        self.source = source
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["source_address"] = (self.source, 0)
        super().init_poolmanager(*args, **kwargs)


def client_from(live: Live, source: str, token: str | None = None) -> hvac.Client:
    session = requests.Session()
    session.mount("https://", _FromAddress(source))
    session.verify = str(live.server.tls.ca_cert)  # hvac leaves a given session's alone
    return hvac.Client(
        url=live.server.url,
        verify=str(live.server.tls.ca_cert),
        token=token,
        session=session,
        timeout=10,
    )


# --- initialisation and configuration as code ---------------------------------------------


def test_first_contact_is_an_uninitialised_static_seal_on_raft(live: Live) -> None:
    status = live.first_status
    assert (status["initialized"], status["sealed"]) == (False, True)
    assert status["type"] == "static"
    assert status["storage_type"] == "raft"


def test_initialise_returns_recovery_keys(live: Live) -> None:
    assert len(live.init["recovery_keys_base64"]) == 5
    assert not live.init.get("keys_base64")  # auto-unseal: no unseal keys
    assert len(live.init["recovery_keys"]) == 5  # hex
    status = vault_client.seal_status(live.server.client())
    assert (status["initialized"], status["sealed"]) == (True, False)
    assert (status["t"], status["n"]) == (3, 5)


def test_first_plan_created_everything(live: Live) -> None:
    kinds = [c.kind for c in live.first_plan]
    assert kinds.count("mount") == 2
    assert kinds.count("policy") == len(live.want.policies)
    assert kinds.count("approle") == len(live.want.approles)
    assert Change("transit-key", "transit/agent", "create") in live.first_plan
    assert live.first_plan[-1] == Change("policy", DEPLOY_ROLE, "create")
    state = vault_client.read_state(live.root(), live.want)
    assert state["mounts"][f"{KV}/"] == {"type": "kv", "options": {"version": "2"}}
    assert state["mounts"][f"{TRANSIT}/"]["type"] == "transit"
    assert state["auth"]["approle/"] == "approle"
    assert state["transit_keys"] == [(TRANSIT, "agent")]
    assert state["policies"] == live.want.policies


def test_second_plan_is_empty(live: Live) -> None:
    assert live.plan() == []


def test_approles_read_back_as_declared(live: Live) -> None:
    state = vault_client.read_state(live.root(), live.want)
    agent = state["approles"][AGENT_ROLE]
    assert agent["token_policies"] == [AGENT_ROLE]
    assert agent["secret_id_ttl"] == 0
    # Some versions report the /32 as a bare address: plan() treats both as the same.
    for key in ("secret_id_bound_cidrs", "token_bound_cidrs"):
        assert [str(ipaddress.ip_network(c)) for c in agent[key]] == ["127.0.0.1/32"]
    assert state["approles"][DEPLOY_ROLE]["token_ttl"] == 900


# --- the deploy's AppRole ------------------------------------------------------------------


def test_deploy_token_sees_what_root_sees_and_plans(live: Live, deploy: hvac.Client) -> None:
    assert vault_client.read_state(deploy, live.want) == vault_client.read_state(
        live.root(), live.want
    )
    assert live.plan(deploy) == []
    policies = deploy.auth.token.lookup_self()["data"]["policies"]
    assert DEPLOY_ROLE in policies
    assert "root" not in policies


def test_deploy_token_writes_postgres_passwords(live: Live, deploy: hvac.Client) -> None:
    assert not vault_client.has_secret(deploy, KV, "postgres/gitea")
    vault_client.put_secret(deploy, KV, "postgres/gitea", {"password": "pg-gitea-pass-3"})
    live.secrets.append("pg-gitea-pass-3")
    assert vault_client.has_secret(deploy, KV, "postgres/gitea")


DEPLOY_DENIED: dict[str, Callable[[hvac.Client], Any]] = {
    "read agent secret": lambda v: v.secrets.kv.v2.read_secret_version(
        "agent/x", mount_point=KV, raise_on_deleted_version=True
    ),
    "write agent secret": lambda v: v.secrets.kv.v2.create_or_update_secret(
        "agent/x", secret={"a": "b"}, mount_point=KV
    ),
    "seal": lambda v: v.sys.seal(),
    "step down": lambda v: v.sys.step_down(),
    "list audit devices": lambda v: v.sys.list_enabled_audit_devices(),
    "create a token": lambda v: v.auth.token.create(policies=["default"]),
    "delete a policy": lambda v: v.sys.delete_policy(AGENT_ROLE),
    "disable an engine": lambda v: v.sys.disable_secrets_engine(TRANSIT),
    "disable an auth method": lambda v: v.sys.disable_auth_method("approle"),
    "use the agent's transit key": lambda v: v.secrets.transit.encrypt_data(
        "agent", plaintext="aGk=", mount_point=TRANSIT
    ),
    "raft snapshot": lambda v: v.adapter.get("/v1/sys/storage/raft/snapshot"),
    "delete an approle": lambda v: v.auth.approle.delete_role(AGENT_ROLE),
}


@pytest.mark.parametrize("action", list(DEPLOY_DENIED))
def test_deploy_token_is_denied(live: Live, deploy: hvac.Client, action: str) -> None:
    root = live.root()
    root.secrets.kv.v2.create_or_update_secret("agent/x", secret={"k": "v"}, mount_point=KV)
    with pytest.raises(Forbidden):
        DEPLOY_DENIED[action](deploy)
    assert not root.sys.read_seal_status()["sealed"]
    assert live.plan() == []


def test_deploy_token_cannot_become_admin(live: Live, deploy: hvac.Client) -> None:
    with pytest.raises(Forbidden):
        vault_client.new_secret_id(deploy, ADMIN_ROLE)


# --- the agent's AppRole -------------------------------------------------------------------


def test_agent_reads_its_secrets(live: Live, agent: hvac.Client) -> None:
    read = agent.secrets.kv.v2.read_secret_version(
        "postgres/sovereign", mount_point=KV, raise_on_deleted_version=True
    )
    assert read["data"]["data"] == {"password": "pg-monitor-pass-1"}
    agent.secrets.kv.v2.create_or_update_secret(
        "agent/totp/alice", secret={"seed": "s33d"}, mount_point=KV
    )
    live.secrets.append("s33d")
    again = agent.secrets.kv.v2.read_secret_version(
        "agent/totp/alice", mount_point=KV, raise_on_deleted_version=True
    )
    assert again["data"]["data"] == {"seed": "s33d"}
    listed = agent.secrets.kv.v2.list_secrets("agent/", mount_point=KV)
    assert "totp/" in listed["data"]["keys"]


def test_agent_encrypts_with_its_transit_key(agent: hvac.Client) -> None:
    plain = base64.b64encode(b"nextcloud admin password").decode()
    cipher = agent.secrets.transit.encrypt_data("agent", plaintext=plain, mount_point=TRANSIT)
    text = cipher["data"]["ciphertext"]
    assert text.startswith("vault:v1:")
    back = agent.secrets.transit.decrypt_data("agent", ciphertext=text, mount_point=TRANSIT)
    assert back["data"]["plaintext"] == plain


AGENT_DENIED: dict[str, Callable[[hvac.Client], Any]] = {
    "read another postgres password": lambda v: v.secrets.kv.v2.read_secret_version(
        "postgres/nextcloud", mount_point=KV, raise_on_deleted_version=True
    ),
    "write its postgres password": lambda v: v.secrets.kv.v2.create_or_update_secret(
        "postgres/sovereign", secret={"password": "x"}, mount_point=KV
    ),
    "list postgres passwords": lambda v: v.secrets.kv.v2.list_secrets("postgres/", mount_point=KV),
    "read the kv mount root": lambda v: v.secrets.kv.v2.read_secret_version(
        "top", mount_point=KV, raise_on_deleted_version=True
    ),
    "rotate its transit key": lambda v: v.secrets.transit.rotate_key("agent", mount_point=TRANSIT),
    "read policies": lambda v: v.sys.read_acl_policy(AGENT_ROLE),
    "mint its own secret-id": lambda v: vault_client.new_secret_id(v, AGENT_ROLE),
    "list mounts": lambda v: v.sys.list_mounted_secrets_engines(),
    "seal": lambda v: v.sys.seal(),
}


@pytest.mark.parametrize("action", list(AGENT_DENIED))
def test_agent_token_is_denied(agent: hvac.Client, action: str) -> None:
    with pytest.raises(Forbidden):
        AGENT_DENIED[action](agent)


@pytest.mark.parametrize("role", [AGENT_ROLE, DEPLOY_ROLE, ADMIN_ROLE])
def test_approle_login_only_from_loopback(live: Live, role: str) -> None:
    root = live.root()
    secret_id, _ = vault_client.new_secret_id(root, role)
    live.secrets.append(secret_id)
    elsewhere = client_from(live, "127.0.0.2")
    with pytest.raises(InvalidRequest, match="CIDR"):
        elsewhere.auth.approle.login(role_id=vault_client.role_id(root, role), secret_id=secret_id)
    here = client_from(live, "127.0.0.1")
    here.auth.approle.login(role_id=vault_client.role_id(root, role), secret_id=secret_id)
    live.secrets.append(here.token)
    # ...and its token is no good from elsewhere either (token_bound_cidrs)
    with pytest.raises(Forbidden):
        client_from(live, "127.0.0.2", here.token).auth.token.lookup_self()
    assert here.auth.token.lookup_self()["data"]["policies"] == ["default", role]


# --- drift: plan() on a Vault changed by hand ----------------------------------------------


def test_hand_changed_policy_is_reported_and_put_back(live: Live, deploy: hvac.Client) -> None:
    root = live.root()
    loose = (
        live.want.policies[AGENT_ROLE] + 'path "sovereign/data/*" {\n  capabilities = ["read"]\n}\n'
    )
    root.sys.create_or_update_acl_policy(name=AGENT_ROLE, policy=loose)
    changes = live.plan(deploy)
    assert changes == [Change("policy", AGENT_ROLE, "rules differ")]
    vault_client.apply(deploy, changes)
    assert live.plan(deploy) == []
    assert root.sys.read_acl_policy(AGENT_ROLE)["data"]["policy"] == live.want.policies[AGENT_ROLE]


def test_deleted_policy_is_created_again(live: Live, deploy: hvac.Client) -> None:
    live.root().sys.delete_acl_policy(AGENT_ROLE)
    assert live.plan(deploy) == [Change("policy", AGENT_ROLE, "create")]
    vault_client.apply(deploy, live.plan(deploy))
    assert live.plan(deploy) == []


@pytest.mark.parametrize(
    ("hand", "why"),
    [
        ({"token_ttl": 120}, "token_ttl differ"),
        ({"token_bound_cidrs": ["10.0.0.0/8"]}, "token_bound_cidrs differ"),
        ({"token_policies": [AGENT_ROLE, DEPLOY_ROLE]}, "token_policies differ"),
        ({"token_max_ttl": 7200, "secret_id_ttl": 600}, "token_max_ttl, secret_id_ttl differ"),
    ],
)
def test_hand_changed_approle_is_reported_and_put_back(
    live: Live, deploy: hvac.Client, hand: dict[str, Any], why: str
) -> None:
    root = live.root()
    root.adapter.post(f"/v1/auth/approle/role/{AGENT_ROLE}", json=hand)
    changes = live.plan(deploy)
    assert changes == [Change("approle", AGENT_ROLE, why)]
    vault_client.apply(deploy, changes)
    assert live.plan(deploy) == []
    assert root.auth.approle.read_role(AGENT_ROLE)["data"]["token_ttl"] == 3600


def test_a_mount_of_the_wrong_type_is_refused(live: Live) -> None:
    root = live.root()
    root.sys.enable_secrets_engine("transit", path="clash")
    root.sys.enable_secrets_engine("kv", path="notransit", options={"version": "2"})
    for want, message in (
        (desired("clash", TRANSIT), r"mount clash/ is a transit engine, the appliance needs kv"),
        (desired(KV, "notransit"), r"mount notransit/ is a kv engine, the appliance needs transit"),
    ):
        with pytest.raises(ValueError, match=message):
            plan(want, vault_client.read_state(root, want))
    assert vault_client.read_state(root, live.want)["mounts"]["clash/"]["type"] == "transit"


def test_kv_version_1_is_upgraded_by_the_deploy(live: Live, deploy: hvac.Client) -> None:
    root = live.root()
    root.sys.enable_secrets_engine("kv", path="legacy", options={"version": "1"})
    root.write("legacy/old", value="kept")
    want = desired("legacy", TRANSIT)
    mounts = [c for c in plan(want, vault_client.read_state(deploy, want)) if c.kind == "mount"]
    assert mounts == [Change("mount", "legacy/", "upgrade to KV v2")]
    vault_client.apply(deploy, mounts)
    assert vault_client.read_state(deploy, want)["mounts"]["legacy/"]["options"]["version"] == "2"
    assert [c for c in plan(want, vault_client.read_state(deploy, want)) if c.kind == "mount"] == []

    def upgraded() -> bool:
        try:
            read = root.secrets.kv.v2.read_secret_version(
                "old", mount_point="legacy", raise_on_deleted_version=True
            )
        except VaultError:
            return False  # upgrading
        return bool(read["data"]["data"] == {"value": "kept"})

    deadline = time.monotonic() + 10
    while not upgraded():
        assert time.monotonic() < deadline, "KV upgrade did not keep the data"
        time.sleep(0.1)


# --- restart, then the audit log (last: they see everything above) --------------------------


def test_restart_comes_back_unsealed_by_itself(live: Live, agent: hvac.Client) -> None:
    live.server.stop()
    live.server.start()
    started = time.monotonic()
    status = vault_client.wait_unsealed(live.server.client(), 15)
    assert status["initialized"]
    assert time.monotonic() - started < 10
    read = agent.secrets.kv.v2.read_secret_version(
        "agent/totp/alice", mount_point=KV, raise_on_deleted_version=True
    )
    assert read["data"]["data"] == {"seed": "s33d"}  # raft kept it; the agent token still holds
    assert live.plan() == []


def test_audit_log_holds_no_secret_in_clear(live: Live) -> None:
    log = live.server.audit_log
    assert (log.stat().st_mode & 0o777) == 0o600
    text = log.read_text()
    assert "auth/approle/login" in text
    assert "postgres/sovereign" in text  # paths are kept: they say who read what
    assert "hmac-sha256:" in text
    recovery = live.init["recovery_keys_base64"] + live.init["recovery_keys"]
    secrets = [live.root_token, *recovery, *live.secrets]
    assert len(secrets) > 10
    leaked = [s for s in secrets if s in text]
    assert leaked == []
