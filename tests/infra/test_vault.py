"""The Vault role's outcome (docs/vault.md): a hardened `vault.service`, raft on its dataset, a
TLS-only listener on the declared address and on 127.0.0.1, initialised and unsealed, an audit
log being written, and the agent's AppRole limited to its own paths.

Secrets stay on the host: commands read them from files inside the host's shell and print only
exit codes and status words.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.infra.expected import (
    PG_AGENT_DATABASE,
    PG_AGENT_ROLE,
    PG_MONITOR_ROLE,
    PG_MOVED_SUFFIX,
    PG_SECRETS_DIR,
    SERVICE_USER,
    VAULT_AGENT_DB_SECRET,
    VAULT_AGENT_DIR,
    VAULT_AGENT_PG_SECRET,
    VAULT_AGENT_ROLE_ID,
    VAULT_AGENT_SECRET_ID,
    VAULT_CA_CERT,
    VAULT_SEAL_KEY,
    VAULT_SERVER_KEY,
    VAULT_UNIT,
    VAULT_USER,
    HostData,
    Postgres,
    Vault,
    dataset_mountpoint,
    datasets,
)

pytestmark = pytest.mark.journal(VAULT_UNIT)


@pytest.fixture(scope="module")
def vault(host_data: HostData) -> Vault:
    vault = Vault.of(host_data)
    if vault is None:
        pytest.skip("no Vault on this host")
    return vault


def cli(vault: Vault, command: str, args: str = "", address: str = "127.0.0.1") -> str:
    """A CLI call against the host's Vault; flags must precede the command's arguments."""
    flags = f"-address=https://{address}:{vault.port} -ca-cert={VAULT_CA_CERT}"
    return f"{vault.binary} {command} {flags} {args}"


def test_unit_running_and_enabled(host: Any, vault: Vault) -> None:
    service = host.service(VAULT_UNIT)
    assert service.is_running
    assert service.is_enabled


@pytest.mark.parametrize(
    ("prop", "value"),
    [
        ("User", VAULT_USER),
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("PrivateDevices", "yes"),
        ("LimitCORE", "0"),
    ],
)
def test_unit_hardened(host: Any, vault: Vault, prop: str, value: str) -> None:
    assert host.check_output(f"systemctl show -p {prop} --value {VAULT_UNIT}") == value


@pytest.mark.parametrize("prop", ["CapabilityBoundingSet", "AmbientCapabilities"])
def test_capabilities_only_for_mlock(host: Any, vault: Vault, prop: str) -> None:
    caps = host.check_output(f"systemctl show -p {prop} --value {VAULT_UNIT}")
    assert caps == ("cap_ipc_lock" if vault.mlock else "")


def test_raft_data_on_its_dataset(host: Any, vault: Vault, host_data: HostData) -> None:
    if not vault.data_is_dataset:
        pytest.skip("vault.data_is_dataset is false: data_dir is a plain directory")
    source, fstype = host.check_output(
        f"findmnt -n -o SOURCE,FSTYPE --mountpoint {vault.data_dir}"
    ).split()
    assert fstype == "zfs" or "fuse" in fstype, fstype
    here = [
        d.name for d in datasets(host_data) if dataset_mountpoint(d, host_data) == vault.data_dir
    ]
    assert [source] == here


@pytest.mark.parametrize("where", ["declared", "loopback"])
def test_listens_tls_only(host: Any, vault: Vault, where: str) -> None:
    address = vault.address if where == "declared" else "127.0.0.1"
    assert host.socket(f"tcp://{address}:{vault.port}").is_listening
    status = host.run(cli(vault, "status", "-format=json", address))
    assert status.rc == 0, status.stderr  # TLS verified against the deploy's CA, by address
    plain = host.run(f"{vault.binary} status -address=http://{address}:{vault.port} 2>&1")
    assert plain.rc != 0
    assert "HTTPS" in plain.stdout or "https" in plain.stdout


def test_cluster_port_only_toward_peers(host: Any, vault: Vault) -> None:
    """Without declared peers the cluster port listens on loopback only."""
    listening = {
        line.split()[3].rsplit(":", 1)[0].strip("[]")
        for line in host.check_output(f"ss -Hltn sport = :{vault.cluster_port}").splitlines()
    }
    assert listening == {vault.cluster_address}


def test_initialised_and_unsealed(host: Any, vault: Vault) -> None:
    status = json.loads(host.check_output(cli(vault, "status", "-format=json")))
    assert status["initialized"] is True
    assert status["sealed"] is False
    assert status["storage_type"] == "raft"


def test_audit_log_is_written(host: Any, vault: Vault) -> None:
    log = host.file(vault.audit_log)
    assert log.exists
    assert (log.user, log.mode) == (VAULT_USER, 0o600)
    before = log.size
    host.check_output(cli(vault, "read", "-format=json sys/health") + " >/dev/null; true")
    host.check_output(cli(vault, "kv get", "sovereign/agent/nothing") + " 2>/dev/null; true")
    assert host.file(vault.audit_log).size > before


def test_ca_certificate_for_local_clients(host: Any, vault: Vault) -> None:
    """The CA (never its key) is on the host, readable by the agent."""
    ca = host.file(VAULT_CA_CERT)
    assert ca.contains("BEGIN CERTIFICATE")
    assert not ca.contains("PRIVATE KEY")
    assert host.run(f"runuser -u {SERVICE_USER} -- test -r {VAULT_CA_CERT}").rc == 0


def test_secret_files_are_tight(host: Any, vault: Vault) -> None:
    key = host.file(VAULT_SERVER_KEY)
    assert (key.user, key.group, key.mode) == ("root", VAULT_USER, 0o640)
    agent_dir = host.file(VAULT_AGENT_DIR)
    assert (agent_dir.user, agent_dir.group, agent_dir.mode) == ("root", SERVICE_USER, 0o750)


@pytest.mark.parametrize("path", [VAULT_AGENT_ROLE_ID, VAULT_AGENT_SECRET_ID])
def test_agent_credentials_readable_by_the_agent_only(host: Any, vault: Vault, path: str) -> None:
    f = host.file(path)
    assert (f.user, f.group, f.mode) == ("root", SERVICE_USER, 0o640)
    assert f.size > 0


def test_static_seal_key(host: Any, vault: Vault) -> None:
    if vault.seal != "static":
        pytest.skip(f"seal {vault.seal}: no key file on the host")
    seal = host.file(VAULT_SEAL_KEY)
    assert (seal.user, seal.group, seal.mode, seal.size) == ("root", VAULT_USER, 0o440, 32)


def test_postgres_passwords_are_not_on_disk(host: Any, vault: Vault) -> None:
    names = host.check_output(f"ls -1 {PG_SECRETS_DIR} 2>/dev/null; true").split()
    assert names, "the postgres role left no markers"
    assert all(name.endswith(PG_MOVED_SUFFIX) for name in names), names


def agent_reads(host: Any, vault: Vault, path: str, then: str = "") -> Any:
    """Log in as the agent's AppRole (from its files, on the host) and read a KV path; `then`
    runs with the secret's `password` field in $PW (never printed)."""
    login = cli(
        vault,
        "write",
        f'-field=token auth/approle/login role_id="$(cat {VAULT_AGENT_ROLE_ID})" '
        f'secret_id="$(cat {VAULT_AGENT_SECRET_ID})"',
    )
    if then:
        read = cli(vault, "kv get", f"-mount={vault.kv_mount} -field=password {path}")
        return host.run(f'T="$({login})"; PW="$(VAULT_TOKEN="$T" BAO_TOKEN="$T" {read})" && {then}')
    read = cli(vault, "kv get", f"-mount={vault.kv_mount} -format=json {path}")
    return host.run(f'T="$({login})"; VAULT_TOKEN="$T" BAO_TOKEN="$T" {read} >/dev/null')


# The agent's own PostgreSQL roles, each with the database it logs in to.
AGENT_LOGINS = [
    (VAULT_AGENT_PG_SECRET, PG_MONITOR_ROLE, "postgres"),
    (VAULT_AGENT_DB_SECRET, PG_AGENT_ROLE, PG_AGENT_DATABASE),
]


@pytest.mark.parametrize("path", [secret for secret, _, _ in AGENT_LOGINS])
def test_agent_approle_reads_its_own_path(host: Any, vault: Vault, path: str) -> None:
    result = agent_reads(host, vault, path)
    assert result.rc == 0, result.stderr


def test_agent_approle_is_denied_other_paths(host: Any, vault: Vault) -> None:
    result = agent_reads(host, vault, "postgres/nextcloud")
    assert result.rc != 0
    assert "permission denied" in result.stderr


@pytest.mark.parametrize(("path", "role", "database"), AGENT_LOGINS)
def test_postgres_accepts_the_password_the_agent_reads(
    host: Any, vault: Vault, host_data: HostData, path: str, role: str, database: str
) -> None:
    """The move into Vault kept the password PostgreSQL has: each of the agent's roles logs
    in over loopback with what Vault holds."""
    port = Postgres.of(host_data).port
    result = agent_reads(
        host,
        vault,
        path,
        then=f'PGPASSWORD="$PW" psql -X -At -h 127.0.0.1 -p {port} -U {role} '
        f"-d {database} -c 'select current_user'",
    )
    assert result.rc == 0, result.stderr
    assert result.stdout.strip() == role
