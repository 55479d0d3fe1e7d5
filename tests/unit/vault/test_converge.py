"""roles.vault.ops.configure end to end against a real OpenBao: the fact (its own command, run
in a sandbox for /etc/sovereign), the operation's decision, and `converge` at execution time -
initialise, keys and credentials to the controller, the agent's AppRole files, PostgreSQL
passwords moved into Vault - then a second deploy that changes nothing.
"""

from __future__ import annotations

import json
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hvac
import pyrage
import pytest
from hvac.exceptions import Forbidden, InvalidRequest
from pyinfra.api import FunctionCommand, OperationError
from pyinfra.context import ctx_host

from roles.vault import client as vault_client
from roles.vault import ops
from roles.vault.client import VaultDeployError
from roles.vault.converge import converge, pending
from roles.vault.desired import ADMIN_ROLE, AGENT_ROLE, DEPLOY_ROLE
from roles.vault.facts import VaultHostState
from roles.vault.keys import ADMIN_CREDENTIALS, DEPLOY_CREDENTIALS, INIT_AGE, load_init_keys
from roles.vault.layout import (
    AGENT_ACCESSOR,
    AGENT_DIR,
    AGENT_ROLE_ID,
    AGENT_SECRET_ID,
    MOVED_SUFFIX,
    PG_SECRETS_DIR,
    SEAL_KEY,
)
from tests.unit.vault.conftest import BaoServer, SandboxHost

KV = "sovereign"
ADMIN_AGE = f"{ADMIN_CREDENTIALS}.age"
NOOP = "Vault is initialised, unsealed and configured as declared"


@dataclass
class Deployed:
    server: BaoServer
    host: SandboxHost
    controller: Path
    identity: Path
    recipients: list[str]
    first: list[Any]  # what the first configure yielded
    init: dict[str, Any] = field(default_factory=dict)  # sys/init's answer, seen in passing

    def configure(self) -> tuple[list[Any], list[str]]:
        """Run the operation as pyinfra would on this host: (commands, no-op descriptions)."""
        self.host.noops.clear()
        with ctx_host.use(self.host):
            commands = list(
                ops.configure._inner(
                    binary=str(self.server.binary),
                    port=self.server.cfg.port,
                    kv_mount=KV,
                    transit_mount="transit",
                    automatic_unseal=True,
                    key_shares=5,
                    key_threshold=3,
                    controller_dir=str(self.controller),
                    ca_cert=str(self.server.tls.ca_cert),
                    age_recipients=self.recipients,
                )
            )
        return commands, list(self.host.noops)

    def deploy(self) -> list[Any]:
        """configure, then execute what it yielded (pyinfra's execution phase)."""
        commands, _ = self.configure()
        for command in commands:
            assert isinstance(command, FunctionCommand)
            command.execute(None, self.host, {})  # type: ignore[arg-type]
        return commands

    def credentials(self, name: str) -> dict[str, Any]:
        path = self.controller / name
        if name.endswith(".age"):
            return load_init_keys(path, self.identity)
        data: dict[str, Any] = json.loads(path.read_text())
        return data

    def login(self, creds: dict[str, Any]) -> hvac.Client:
        vault = self.server.client()
        vault.auth.approle.login(role_id=creds["role_id"], secret_id=creds["secret_id"])
        return vault

    def admin(self) -> hvac.Client:
        return self.login(self.credentials(ADMIN_AGE))

    def agent_files(self) -> dict[str, str]:
        return {
            name: self.host.path(path).read_text().strip()
            for name, path in (
                ("role_id", AGENT_ROLE_ID),
                ("secret_id", AGENT_SECRET_ID),
                ("accessor", AGENT_ACCESSOR),
            )
        }


@pytest.fixture(scope="module")
def deployed(bao_binary: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployed]:
    root = tmp_path_factory.mktemp("converge")
    server = BaoServer.create(bao_binary, root / "bao")
    server.start()
    host = SandboxHost(root / "etc")
    host.install_ca(server)
    host.path(SEAL_KEY).write_bytes(b"\x01" * 32)  # the host's; the server uses its own copy
    pg = host.path(PG_SECRETS_DIR)
    pg.mkdir(parents=True)
    (pg / "nextcloud").write_text("pg-nextcloud-pw\n")
    (pg / "sovereign").write_text("pg-monitor-pw\n")
    ident = pyrage.x25519.Identity.generate()
    identity = root / "operator.key"
    identity.write_text(f"{ident}\n")
    try:
        state = Deployed(server, host, root / "controller", identity, [str(ident.to_public())], [])
        real_initialise = vault_client.initialise

        def initialise(*args: Any, **kwargs: Any) -> dict[str, Any]:
            state.init = real_initialise(*args, **kwargs)
            return state.init

        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(vault_client, "initialise", initialise)
            state.first = state.deploy()
        yield state
    finally:
        server.stop(graceful=False)


def test_first_deploy_yields_converge_only(deployed: Deployed) -> None:
    assert len(deployed.first) == 1
    command = deployed.first[0]
    assert command.function is converge
    assert command.kwargs["recipients"] == deployed.recipients
    # no secret in the operation's arguments: they are printed and kept by pyinfra
    assert set(command.kwargs) == {
        "port",
        "kv",
        "transit",
        "automatic_unseal",
        "shares",
        "threshold",
        "directory",
        "ca_cert",
        "recipients",
    }


def test_controller_holds_encrypted_keys_and_private_credentials(deployed: Deployed) -> None:
    ctl = deployed.controller
    assert stat.S_IMODE(ctl.stat().st_mode) == 0o700
    assert sorted(p.name for p in ctl.iterdir()) == sorted(
        [INIT_AGE, ADMIN_AGE, DEPLOY_CREDENTIALS]
    )
    for path in ctl.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    raw = b"".join(p.read_bytes() for p in ctl.glob("*.age"))
    for key in deployed.init["recovery_keys_base64"]:
        assert key.encode() not in raw
    keys = deployed.credentials(INIT_AGE)
    assert keys["host"] == "vault-test"
    assert keys["threshold"] == 3


def test_first_deploy_keeps_the_recovery_keys(deployed: Deployed) -> None:
    keys = deployed.credentials(INIT_AGE)
    assert keys["keys_b64"] == deployed.init["recovery_keys_base64"]


def test_root_token_revoked(deployed: Deployed) -> None:
    root = deployed.server.client(deployed.init["root_token"])
    with pytest.raises(Forbidden):
        root.auth.token.lookup_self()


def test_admin_approle_is_the_way_back_in(deployed: Deployed) -> None:
    admin = deployed.admin()
    assert ADMIN_ROLE in admin.auth.token.lookup_self()["data"]["policies"]
    assert "sovereign/" in admin.sys.list_enabled_audit_devices()["data"]  # the HCL's device


def test_deploy_credentials_log_in(deployed: Deployed) -> None:
    deploy = deployed.login(deployed.credentials(DEPLOY_CREDENTIALS))
    assert DEPLOY_ROLE in deploy.auth.token.lookup_self()["data"]["policies"]


def test_agent_credentials_delivered(deployed: Deployed) -> None:
    files = deployed.agent_files()
    admin = deployed.admin()
    assert files["role_id"] == vault_client.role_id(admin, AGENT_ROLE)
    assert vault_client.accessor_valid(admin, AGENT_ROLE, files["accessor"])
    agent = deployed.login(files)
    assert AGENT_ROLE in agent.auth.token.lookup_self()["data"]["policies"]
    directory = deployed.host.path(AGENT_DIR)
    assert stat.S_IMODE(directory.stat().st_mode) == 0o750
    for name in ("role-id", "secret-id", "secret-id.accessor"):
        assert stat.S_IMODE((directory / name).stat().st_mode) == 0o640
    assert not list(directory.glob("*.new"))
    # the secret-id went over stdin, never in a command line
    assert not [c for c in deployed.host.commands if files["secret_id"] in c]
    assert f"{files['secret_id']}\n" in deployed.host.stdins


def test_postgres_passwords_moved_into_vault(deployed: Deployed) -> None:
    pg = deployed.host.path(PG_SECRETS_DIR)
    assert sorted(p.name for p in pg.iterdir()) == [
        f"nextcloud{MOVED_SUFFIX}",
        f"sovereign{MOVED_SUFFIX}",
    ]
    assert (pg / f"nextcloud{MOVED_SUFFIX}").read_text() == ""
    assert stat.S_IMODE((pg / f"nextcloud{MOVED_SUFFIX}").stat().st_mode) == 0o600
    agent = deployed.login(deployed.agent_files())
    read = agent.secrets.kv.v2.read_secret_version(
        "postgres/sovereign", mount_point=KV, raise_on_deleted_version=True
    )
    assert read["data"]["data"] == {"password": "pg-monitor-pw"}
    read = deployed.admin().secrets.kv.v2.read_secret_version(
        "postgres/nextcloud", mount_point=KV, raise_on_deleted_version=True
    )
    assert read["data"]["data"] == {"password": "pg-nextcloud-pw"}


def test_second_deploy_is_a_noop(deployed: Deployed) -> None:
    before = deployed.agent_files()
    ran = len(deployed.host.commands)
    commands, noops = deployed.configure()
    assert commands == []
    assert noops == [NOOP]
    assert deployed.agent_files() == before
    assert deployed.host.commands[ran:] == []  # the check itself ran nothing on the host


def _drift(deployed: Deployed, change: Callable[[], object], expected: list[str]) -> None:
    change()
    state = deployed.host.get_fact(
        VaultHostState, binary=str(deployed.server.binary), port=deployed.server.cfg.port
    )
    vault = deployed.server.client()
    work = pending(vault, state, KV, "transit", deployed.controller / DEPLOY_CREDENTIALS)
    assert work == expected
    commands = deployed.deploy()
    assert len(commands) == 1
    assert deployed.configure() == ([], [NOOP])


def test_policy_changed_by_hand_is_put_back(deployed: Deployed) -> None:
    admin = deployed.admin()
    _drift(
        deployed,
        lambda: admin.sys.create_or_update_acl_policy(
            name=AGENT_ROLE, policy='path "*" {\n  capabilities = ["read"]\n}\n'
        ),
        [f"policy {AGENT_ROLE}: rules differ"],
    )
    assert '"*"' not in admin.sys.read_acl_policy(AGENT_ROLE)["data"]["policy"]


def test_destroyed_agent_secret_id_is_replaced(deployed: Deployed) -> None:
    admin = deployed.admin()
    old = deployed.agent_files()
    _drift(
        deployed,
        lambda: vault_client.destroy_accessor(admin, AGENT_ROLE, old["accessor"]),
        ["deliver a new secret-id to the agent (its current one is gone)"],
    )
    new = deployed.agent_files()
    assert new["role_id"] == old["role_id"]
    assert new["accessor"] != old["accessor"]
    deployed.login(new)
    with pytest.raises(InvalidRequest):
        deployed.login(old)


def test_new_postgres_password_file_is_moved(deployed: Deployed) -> None:
    pg = deployed.host.path(PG_SECRETS_DIR)
    _drift(
        deployed,
        lambda: (pg / "gitea").write_text("pg-gitea-pw\n"),
        ["move the PostgreSQL password of gitea into Vault"],
    )
    assert (pg / f"gitea{MOVED_SUFFIX}").exists()
    assert not (pg / "gitea").exists()
    deploy = deployed.login(deployed.credentials(DEPLOY_CREDENTIALS))
    assert vault_client.has_secret(deploy, KV, "postgres/gitea")


def test_missing_deploy_credentials_stop_the_deploy(deployed: Deployed) -> None:
    credentials = deployed.controller / DEPLOY_CREDENTIALS
    aside = credentials.with_name("aside.json")
    credentials.rename(aside)
    try:
        with pytest.raises(OperationError, match=rf"{DEPLOY_CREDENTIALS} is missing"):
            deployed.configure()
    finally:
        aside.rename(credentials)


def test_revoked_deploy_credentials_say_what_to_do(deployed: Deployed) -> None:
    creds = deployed.credentials(DEPLOY_CREDENTIALS)
    admin = deployed.admin()
    secret = admin.auth.approle.read_secret_id(DEPLOY_ROLE, creds["secret_id"])["data"]
    vault_client.destroy_accessor(admin, DEPLOY_ROLE, secret["secret_id_accessor"])
    try:
        with pytest.raises(OperationError, match=r"AppRole credentials in .* are refused"):
            deployed.configure()
    finally:
        secret_id, _ = vault_client.new_secret_id(admin, DEPLOY_ROLE)
        path = deployed.controller / DEPLOY_CREDENTIALS
        path.write_text(json.dumps({"role_id": creds["role_id"], "secret_id": secret_id}))
    assert deployed.configure() == ([], [NOOP])


def test_empty_vault_with_keys_on_the_controller_is_not_initialised_again(
    deployed: Deployed, make_server: Callable[..., BaoServer]
) -> None:
    """The dataset was not mounted (or a restore went wrong): a new, empty Vault answers."""
    empty = make_server("empty")
    empty.start()
    host = SandboxHost(deployed.host.root.parent / "etc-empty")
    host.install_ca(empty)
    with ctx_host.use(host):
        commands = list(
            ops.configure._inner(
                binary=str(empty.binary),
                port=empty.cfg.port,
                kv_mount=KV,
                transit_mount="transit",
                automatic_unseal=True,
                key_shares=5,
                key_threshold=3,
                controller_dir=str(deployed.controller),
                ca_cert=str(empty.tls.ca_cert),
                age_recipients=deployed.recipients,
            )
        )
    with pytest.raises(VaultDeployError, match=r"its data is missing"):
        commands[0].execute(None, host, {})
    assert vault_client.seal_status(empty.client())["initialized"] is False
