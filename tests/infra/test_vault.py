"""The Vault role's outcome: a hardened unit, a TLS-only listener where declared, initialised
and unsealed, an audit log being written, and the agent's AppRole limited to its own paths.

Secrets stay on the host: commands read them from files inside the host's shell and print only
exit codes and status words.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from roles.vault import binary_path
from roles.vault.layout import (
    AGENT_DIR,
    AGENT_ROLE_ID,
    AGENT_SECRET_ID,
    CA_CERT,
    PG_SECRETS_DIR,
    SEAL_KEY,
    SERVER_KEY,
    UNIT,
    USER,
)
from roles.vault.settings import VaultSettings, resolve_listen_address


@pytest.fixture
def vault(host_data: dict[str, Any]) -> VaultSettings:
    if host_data.get("vault") is None:
        pytest.skip("no Vault on this host")
    return VaultSettings.model_validate(host_data["vault"])


@pytest.fixture
def address(vault: VaultSettings, host_data: dict[str, Any]) -> str:
    return resolve_listen_address(vault, host_data.get("ssh_hostname"))


def cli(vault: VaultSettings, command: str, args: str = "", address: str = "127.0.0.1") -> str:
    """A CLI call against the host's Vault; flags must precede the command's arguments."""
    flags = f"-address=https://{address}:{vault.port} -ca-cert={CA_CERT}"
    return f"{binary_path(vault)} {command} {flags} {args}"


def test_unit_running_and_enabled(host: Any, vault: VaultSettings) -> None:
    service = host.service(UNIT)
    assert service.is_running
    assert service.is_enabled


@pytest.mark.parametrize(
    ("prop", "value"),
    [
        ("User", USER),
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("PrivateDevices", "yes"),
        ("LimitCORE", "0"),
    ],
)
def test_unit_hardened(host: Any, vault: VaultSettings, prop: str, value: str) -> None:
    assert host.check_output(f"systemctl show -p {prop} --value {UNIT}") == value


def test_capabilities_only_for_mlock(host: Any, vault: VaultSettings) -> None:
    caps = host.check_output(f"systemctl show -p CapabilityBoundingSet --value {UNIT}")
    assert caps == ("cap_ipc_lock" if vault.mlock else "")


def test_listens_tls_only_on_declared_address(
    host: Any, vault: VaultSettings, address: str
) -> None:
    assert host.socket(f"tcp://{address}:{vault.port}").is_listening
    status = host.run(cli(vault, "status", "-format=json", address))
    assert status.rc == 0, status.stderr  # TLS verified against the deploy's CA, by address
    plain = host.run(f"{binary_path(vault)} status -address=http://{address}:{vault.port} 2>&1")
    assert plain.rc != 0
    assert "HTTPS" in plain.stdout or "https" in plain.stdout


def test_initialised_and_unsealed(host: Any, vault: VaultSettings) -> None:
    status = json.loads(host.check_output(cli(vault, "status", "-format=json")))
    assert status["initialized"] is True
    assert status["sealed"] is False
    assert status["storage_type"] == "raft"


def test_audit_log_is_written(host: Any, vault: VaultSettings) -> None:
    log = host.file(vault.audit_log)
    assert log.exists
    assert (log.user, log.mode) == (USER, 0o600)
    before = log.size
    host.check_output(cli(vault, "read", "-format=json sys/health") + " >/dev/null; true")
    host.check_output(cli(vault, "kv get", "sovereign/agent/nothing") + " 2>/dev/null; true")
    assert host.file(vault.audit_log).size > before


def test_secret_files_are_tight(host: Any, vault: VaultSettings) -> None:
    key = host.file(SERVER_KEY)
    assert (key.user, key.group, key.mode) == ("root", USER, 0o640)
    if vault.seal == "static":
        seal = host.file(SEAL_KEY)
        assert (seal.user, seal.group, seal.mode, seal.size) == ("root", USER, 0o440, 32)
    agent_dir = host.file(AGENT_DIR)
    assert (agent_dir.user, agent_dir.group, agent_dir.mode) == ("root", "sovereign", 0o750)
    secret = host.file(AGENT_SECRET_ID)
    assert (secret.user, secret.group, secret.mode) == ("root", "sovereign", 0o640)


def test_postgres_passwords_are_not_on_disk(host: Any, vault: VaultSettings) -> None:
    names = host.check_output(f"ls -1 {PG_SECRETS_DIR} 2>/dev/null; true").split()
    assert names, "the postgres role left no markers"
    assert all(name.endswith(".in-vault") for name in names), names


def agent_reads(host: Any, vault: VaultSettings, path: str, then: str = "") -> Any:
    """Log in as the agent's AppRole (from its files, on the host) and read a KV path; `then`
    runs with the secret's `password` field in $PW (never printed)."""
    login = cli(
        vault,
        "write",
        f'-field=token auth/approle/login role_id="$(cat {AGENT_ROLE_ID})" '
        f'secret_id="$(cat {AGENT_SECRET_ID})"',
    )
    if then:
        read = cli(vault, "kv get", f"-mount={vault.kv_mount} -field=password {path}")
        return host.run(f'T="$({login})"; PW="$(VAULT_TOKEN="$T" BAO_TOKEN="$T" {read})" && {then}')
    read = cli(vault, "kv get", f"-mount={vault.kv_mount} -format=json {path}")
    return host.run(f'T="$({login})"; VAULT_TOKEN="$T" BAO_TOKEN="$T" {read} >/dev/null')


def test_agent_approle_reads_its_own_path(host: Any, vault: VaultSettings) -> None:
    result = agent_reads(host, vault, "postgres/sovereign")
    assert result.rc == 0, result.stderr


def test_agent_approle_is_denied_other_paths(host: Any, vault: VaultSettings) -> None:
    result = agent_reads(host, vault, "postgres/nextcloud")
    assert result.rc != 0
    assert "permission denied" in result.stderr


def test_postgres_accepts_the_password_the_agent_reads(
    host: Any, vault: VaultSettings, host_data: dict[str, Any]
) -> None:
    """The move into Vault kept the password PostgreSQL has: the agent's role logs in over
    loopback with what Vault holds."""
    port = (host_data.get("postgres") or {}).get("port", 5432)
    result = agent_reads(
        host,
        vault,
        "postgres/sovereign",
        then=f'PGPASSWORD="$PW" psql -X -At -h 127.0.0.1 -p {port} -U sovereign -d postgres '
        "-c 'select current_user'",
    )
    assert result.rc == 0, result.stderr
    assert result.stdout.strip() == "sovereign"
