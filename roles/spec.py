"""One host's inventory data, validated once into one typed `HostSpec` that everything reads.

`parse_host_spec` is the only place that turns a host's raw inventory data into settings:
preflight (`sovereign deploy|check`), `deploy/site.py` (through `current_host_spec`), every
role and `sovereign vault …` read the resulting object. It reports every bad field of a host
at once, each named `key.field`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from controller.artifacts import default_dir
from roles.agent.config import config_text
from roles.agent.settings import AgentRoleSettings
from roles.agent.sync import SyncRoleSettings
from roles.base.settings import BaseRoleSettings
from roles.broker.settings import BrokerSettings, check_peers
from roles.broker.settings import resolve_listen_address as resolve_broker_address
from roles.edge.plan import agent_body_limit
from roles.edge.settings import EdgeSettings
from roles.firewall.settings import FirewallSettings
from roles.mail.settings import MailSettings
from roles.nextcloud.plan import check as check_nextcloud
from roles.nextcloud.settings import NextcloudSettings
from roles.pgbackrest.settings import PgBackrestSettings, check_cipher, check_restore_port
from roles.pki.settings import PkiSettings, check_one_ca
from roles.postgres.settings import PostgresSettings
from roles.replication.backup_host import HostKind, check_backup_host, parse_kind, storage_data
from roles.replication.settings import ReplicationSettings
from roles.settings import RoleSettingsError, format_validation_error, parse_settings
from roles.snapshots.settings import SnapshotSettings, resolve_snapshots
from roles.vault.settings import VaultServerSettings
from roles.vault.settings import resolve_listen_address as resolve_vault_address
from roles.zfs.backends import Backend, parse_backend
from roles.zfs.settings import StorageSettings, default_datasets

T = TypeVar("T")

# The keys a host's data may carry besides pyinfra's own connection settings.
APPLIANCE_KEYS = frozenset({
    "base", "storage", "zfs_backend", "postgres", "broker", "vault", "agent", "pki", "edge",
    "firewall", "peers", "appliance_subnet", "artifacts_dir", "lab", "lab_disks", "mail", "kind",
    "snapshots", "pgbackrest", "replication", "nextcloud", "sync",
})  # fmt: skip
# pyinfra reads these itself: connector settings (ssh_…, winrm_…) and global arguments (_sudo…).
PYINFRA_PREFIXES = ("ssh_", "winrm_", "docker_", "chroot_", "local_", "_")


class HostSpec(BaseModel):
    """Everything the deploy knows about one host, each role's settings a typed field."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    kind: HostKind = "appliance"  # "backup": a plain ZFS host receiving replicas
    ssh_hostname: str | None = None
    ssh_port: int = 22
    lab: bool = False
    appliance_subnet: str | None = None
    peers: list[str] = []
    artifacts_dir: Path
    zfs_backend: Backend = "openzfs"
    base: BaseRoleSettings
    storage: StorageSettings
    postgres: PostgresSettings
    broker: BrokerSettings
    vault: VaultServerSettings | None = None
    agent: AgentRoleSettings
    pki: PkiSettings
    edge: EdgeSettings
    firewall: FirewallSettings
    mail: MailSettings = MailSettings()
    snapshots: SnapshotSettings = SnapshotSettings()
    pgbackrest: PgBackrestSettings = PgBackrestSettings()
    replication: ReplicationSettings = ReplicationSettings()
    nextcloud: NextcloudSettings | None = None  # the role runs only where the inventory asks
    sync: SyncRoleSettings | None = None  # Sovereign Sync, rendered into agent.toml's [sync]


def resolve_storage(
    raw: Mapping[str, Any] | None, lab_disks: list[str] | None, backend: Backend, host_name: str
) -> StorageSettings:
    """`storage` with its defaults filled in (pool `tank` over `storage.disks` or the lab's
    disks, the appliance's datasets), validated against what the backend accepts."""
    data = dict(raw or {})
    if not data.get("pools"):
        disks = data.get("disks") or lab_disks or []
        data["pools"] = [{"name": "tank", "layout": "raidz2", "disks": disks}]
    if "datasets" not in data:
        first = data["pools"][0]
        pool = str(first.get("name", "tank")) if isinstance(first, dict) else "tank"
        data["datasets"] = [d.model_dump(exclude_none=True) for d in default_datasets(pool)]
    try:
        return StorageSettings.model_validate(data, context={"backend": backend})
    except ValidationError as exc:
        raise RoleSettingsError(
            f"host {host_name}: invalid `storage` settings:\n"
            f"{format_validation_error('storage', exc)}"
        ) from None


def _subnet(value: object, host_name: str) -> str | None:
    if value is None:
        return None
    try:
        return str(ipaddress.ip_network(str(value), strict=False))
    except ValueError:
        raise RoleSettingsError(
            f"host {host_name}: appliance_subnet: not a network (CIDR), got {value!r}"
        ) from None


def _peers(value: object, host_name: str) -> list[str]:
    """`peers`: the IP addresses of the other appliance hosts this one works with."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise RoleSettingsError(f"host {host_name}: peers: a list of IP addresses, got {value!r}")
    found = []
    for i, item in enumerate(value):
        try:
            found.append(str(ipaddress.ip_address(str(item))))
        except ValueError:
            raise RoleSettingsError(
                f"host {host_name}: peers.{i}: not an IP address, got {item!r}"
            ) from None
    return found


def _ssh_port(value: object, host_name: str) -> int:
    try:
        port = int(str(22 if value is None else value))
    except ValueError:
        port = 0
    if not 1 <= port <= 65535:
        raise RoleSettingsError(f"host {host_name}: ssh_port: not a TCP port, got {value!r}")
    return port


def parse_host_spec(name: str, data: Mapping[str, Any]) -> HostSpec:
    """Validate a host's inventory data; raise one RoleSettingsError naming every bad field."""
    problems: list[str] = []

    def section(validate: Callable[[], T]) -> T | None:
        try:
            return validate()
        except (RoleSettingsError, ValueError) as exc:
            problems.append(str(exc))
            return None

    unknown = sorted(
        k for k in data if k not in APPLIANCE_KEYS and not k.startswith(PYINFRA_PREFIXES)
    )
    if unknown:
        problems.append(
            f"host {name}: unknown key(s) {unknown}; known: {sorted(APPLIANCE_KEYS)} "
            "and pyinfra's connection settings (ssh_…)"
        )
    backend = section(lambda: parse_backend(data.get("zfs_backend"), name))
    kind = section(lambda: parse_kind(data.get("kind"), name)) or "appliance"
    raw_storage = storage_data(data.get("storage"), kind)  # a backup host: POOL/replicas
    base = section(lambda: parse_settings(BaseRoleSettings, "base", data.get("base"), name))
    storage = section(
        lambda: resolve_storage(raw_storage, data.get("lab_disks"), backend or "openzfs", name)
    )
    agent = section(lambda: parse_settings(AgentRoleSettings, "agent", data.get("agent"), name))
    postgres = section(
        lambda: parse_settings(PostgresSettings, "postgres", data.get("postgres"), name)
    )
    broker = section(lambda: parse_settings(BrokerSettings, "broker", data.get("broker"), name))
    vault = None
    if data.get("vault") is not None:
        vault = section(
            lambda: parse_settings(VaultServerSettings, "vault", data.get("vault"), name)
        )
    pki = section(lambda: parse_settings(PkiSettings, "pki", data.get("pki"), name))
    edge = section(lambda: parse_settings(EdgeSettings, "edge", data.get("edge"), name))
    firewall = section(
        lambda: parse_settings(FirewallSettings, "firewall", data.get("firewall"), name)
    )
    mail = section(lambda: parse_settings(MailSettings, "mail", data.get("mail"), name))
    snapshots = section(lambda: resolve_snapshots(data.get("snapshots"), storage, name))
    pgbackrest = section(
        lambda: parse_settings(PgBackrestSettings, "pgbackrest", data.get("pgbackrest"), name)
    )
    replication = section(
        lambda: parse_settings(ReplicationSettings, "replication", data.get("replication"), name)
    )
    nextcloud = None
    if data.get("nextcloud") is not None:
        nextcloud = section(
            lambda: parse_settings(NextcloudSettings, "nextcloud", data.get("nextcloud"), name)
        )
    sync = None
    if data.get("sync") is not None:
        sync = section(lambda: parse_settings(SyncRoleSettings, "sync", data.get("sync"), name))
    subnet = section(lambda: _subnet(data.get("appliance_subnet"), name))
    peers = section(lambda: _peers(data.get("peers"), name))
    ssh_port = section(lambda: _ssh_port(data.get("ssh_port"), name))
    if problems:
        raise RoleSettingsError("\n".join(problems))
    assert backend and base and storage and agent and postgres and broker  # no problems
    assert pki and edge and firewall and mail and peers is not None and ssh_port and snapshots
    assert pgbackrest and replication
    ssh_hostname = data.get("ssh_hostname")
    artifacts = data.get("artifacts_dir")
    spec = HostSpec(
        name=name,
        kind=kind,
        ssh_hostname=str(ssh_hostname) if ssh_hostname else None,
        ssh_port=ssh_port,
        lab=bool(data.get("lab")),
        appliance_subnet=subnet,
        peers=peers,
        artifacts_dir=Path(artifacts) if artifacts else default_dir(),
        zfs_backend=backend,
        base=base,
        storage=storage,
        postgres=postgres,
        broker=broker,
        vault=vault,
        agent=agent,
        pki=pki,
        edge=edge,
        firewall=firewall,
        mail=mail,
        snapshots=snapshots,
        pgbackrest=pgbackrest,
        replication=replication,
        nextcloud=nextcloud,
        sync=sync,
    )
    _check_derived(spec)
    return spec


def _check_derived(spec: HostSpec) -> None:
    """What the roles derive from the spec (listen addresses, the agent's config file) must
    work out too: fail here, naming the field, rather than halfway through a deploy."""
    problems: list[str] = []
    checks: list[Callable[[], object]] = [
        lambda: resolve_broker_address(spec.broker, spec.ssh_hostname),
        lambda: check_peers(spec.broker, spec.peers, spec.ssh_hostname),
        lambda: check_one_ca(spec),
        lambda: agent_body_limit(spec),
        lambda: config_text(spec),
        lambda: check_restore_port(spec.pgbackrest, spec.postgres.port, spec.name),
        lambda: check_cipher(spec.pgbackrest, spec.vault, spec.name),
        lambda: check_backup_host(spec),
    ]
    if spec.vault is not None:
        vault = spec.vault
        checks.append(lambda: resolve_vault_address(vault, spec.ssh_hostname))
    for check in checks:
        try:
            check()
        except RoleSettingsError as exc:
            problems.append(str(exc))
        except ValueError as exc:
            problems.append(f"host {spec.name}: {exc}")
    problems += check_nextcloud(spec)
    if problems:
        raise RoleSettingsError("\n".join(problems))


_SPECS: dict[tuple[str, int], HostSpec] = {}


def current_host_spec() -> HostSpec:
    """The spec of the host pyinfra is deploying now, validated once per host and run."""
    from pyinfra import host

    key = (host.name, id(host))
    if key not in _SPECS:
        _SPECS[key] = parse_host_spec(host.name, host.data.dict())  # type: ignore[no-untyped-call]
    return _SPECS[key]
