"""What a deployed appliance host must look like, from its inventory data and the appliance's
documented defaults (README.md, docs/vault.md, inventory/example.py and the docstrings of
roles/*/settings.py), written down here on purpose.

This module, and the whole suite, imports no project code: the deploy's own code cannot tell
the check what to expect, so a bug in a role cannot pass both the deploy and its verification.
Knowledge is duplicated here by design; when a documented default changes, change it here too.

The host data is the inventory's, as `sovereign verify` hands it over (JSON, one object per
host). It was validated by the deploy; this module only fills in the defaults.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Any

HostData = dict[str, Any]

# --- shared ------------------------------------------------------------------------------------

SERVICE_USER = "sovereign"  # the appliance's system user and group (base role)
CONFIG_DIR = "/etc/sovereign"
# The appliance CA's certificate on every host (its key stays on the controller), and the
# service certificates it issued.
TLS_DIR = f"{CONFIG_DIR}/tls"
APPLIANCE_CA = f"{TLS_DIR}/ca.crt"
# What `systemd-analyze security` may score the appliance's own units at most (README).
EXPOSURE_LIMIT = 5.0
EVERYWHERE = ("0.0.0.0/0", "::/0")


def host_ip(data: HostData) -> str | None:
    """The host's IP when the inventory reaches it by address: the services' default listen
    address."""
    try:
        return str(ipaddress.ip_address(data.get("ssh_hostname") or ""))
    except ValueError:
        return None


def section(data: HostData, key: str) -> dict[str, Any]:
    value = data.get(key)
    return dict(value) if isinstance(value, dict) else {}


_SIZE = re.compile(r"^(\d+(?:\.\d+)?)([KMGTPE]?)(?:i?B)?$", re.IGNORECASE)
_POWERS = "KMGTPE"


def size_bytes(value: str | int) -> int:
    """An absolute ZFS size as the inventory writes it (`10G`, `512M`, `16K`, `4096`): binary
    units, as zfs(8) reads them."""
    match = _SIZE.match(str(value).strip())
    if match is None:
        raise ValueError(f"not a size: {value!r}")
    number, unit = match.groups()
    power = _POWERS.index(unit.upper()) + 1 if unit else 0
    return int(float(number) * 1024**power)


# --- base --------------------------------------------------------------------------------------

# The packages every appliance host gets (base role), before the inventory's extra_packages.
ESSENTIAL_PACKAGES = (
    "ca-certificates",
    "curl",
    "gnupg",
    "jq",
    "less",
    "logrotate",
    "rsync",
    "sudo",
    "tzdata",
)
JOURNALD_DROPIN = "/etc/systemd/journald.conf.d/50-sovereign.conf"


@dataclass(frozen=True)
class Base:
    hostname: str
    timezone: str
    packages: tuple[str, ...]
    journal_max_use: str

    @classmethod
    def of(cls, data: HostData, name: str) -> Base:
        base = section(data, "base")
        return cls(
            hostname=base.get("hostname") or name,
            timezone=base.get("timezone") or "UTC",
            packages=(*ESSENTIAL_PACKAGES, *base.get("extra_packages", ())),
            journal_max_use=str(base.get("journal_max_use") or "1G"),
        )


# --- storage -----------------------------------------------------------------------------------

# Layouts as the inventory names them and as `zpool status` names their vdevs.
VDEV_KINDS = {"raidz2": "raidz2", "raidz1": "raidz1", "raidz": "raidz1", "mirror": "mirror"}


@dataclass(frozen=True)
class Pool:
    name: str
    layout: str
    disks: tuple[str, ...]
    spares: tuple[str, ...]
    mountpoint: str | None


@dataclass(frozen=True)
class Dataset:
    name: str
    quota: str | None = None
    refquota: str | None = None
    reservation: str | None = None
    compression: str | None = None
    recordsize: str | None = None
    mountpoint: str | None = None
    atime: str | None = None

    @property
    def pool(self) -> str:
        return self.name.split("/", 1)[0]


def is_backup_host(data: HostData) -> bool:
    """`kind = "backup"`: a plain ZFS host receiving replicas (the appliance's roles absent)."""
    return data.get("kind") == "backup"


#: What the suite checks on a backup host: these modules, without these tests (no PKI there).
BACKUP_HOST_MODULES = frozenset({"test_base", "test_firewall", "test_storage", "test_backup_host"})
NOT_ON_BACKUP_HOSTS = frozenset({"test_appliance_ca_certificate_without_its_key"})


def zfs_backend(data: HostData) -> str:
    return str(data.get("zfs_backend") or "openzfs")


def pools(data: HostData) -> list[Pool]:
    """Declared pools, else the default: `tank`, RAID-Z2 over `storage.disks` (lab hosts:
    `lab_disks`)."""
    storage = section(data, "storage")
    declared = storage.get("pools") or [
        {"name": "tank", "layout": "raidz2", "disks": storage.get("disks") or data.get("lab_disks")}
    ]
    return [
        Pool(
            name=p.get("name", "tank"),
            layout=p.get("layout", "raidz2"),
            disks=tuple(p.get("disks") or ()),
            spares=tuple(p.get("spares") or ()),
            mountpoint=p.get("mountpoint"),
        )
        for p in declared
    ]


def default_datasets(pool: str) -> list[Dataset]:
    """The appliance's datasets: quotas as percentages of the pool's usable space so one
    layout fits a 4 GB lab pool and a 40 TB one; PostgreSQL's with 16K records."""
    common: dict[str, Any] = {"compression": "on", "atime": "off"}
    return [
        Dataset(f"{pool}/nextcloud", quota="40%", **common),
        Dataset(f"{pool}/postgres", quota="15%", recordsize="16K", **common),
        Dataset(f"{pool}/vault", quota="2%", **common),
        Dataset(f"{pool}/backups", quota="30%", **common),
        Dataset(f"{pool}/agent", quota="2%", **common),
    ]


def datasets(data: HostData) -> list[Dataset]:
    """Declared datasets (a `datasets` key replaces the defaults), else the defaults in the
    first pool."""
    storage = section(data, "storage")
    if "datasets" not in storage and is_backup_host(data):
        return [Dataset(f"{pools(data)[0].name}/replicas", compression="on", atime="off")]
    if "datasets" not in storage:
        return default_datasets(pools(data)[0].name)
    fields = ("quota", "refquota", "reservation", "compression", "recordsize", "mountpoint")
    return [
        Dataset(
            name=d["name"],
            **{f: None if d.get(f) is None else str(d[f]) for f in fields},
            atime=d.get("atime"),
        )
        for d in storage["datasets"]
    ]


def dataset_mountpoint(dataset: Dataset, data: HostData) -> str:
    """Where the dataset is mounted: as declared, else under its pool's mount point."""
    if dataset.mountpoint:
        return dataset.mountpoint
    pool = next((p for p in pools(data) if p.name == dataset.pool), None)
    base = pool.mountpoint if pool and pool.mountpoint else f"/{dataset.pool}"
    return f"{base.rstrip('/')}/{dataset.name.split('/', 1)[1]}"


def expected_bytes(setting: str, usable: int) -> int:
    """A quota/reservation setting in bytes as `zfs get -p` prints it: `none` is 0, a
    percentage is of the pool's usable space."""
    if setting == "none":
        return 0
    if setting.endswith("%"):
        return int(usable * float(setting[:-1]) / 100)
    return size_bytes(setting)


ZFS_PROPERTIES = (
    "type",
    "used",
    "available",
    "quota",
    "refquota",
    "reservation",
    "compression",
    "recordsize",
    "mountpoint",
    "atime",
    "mounted",
)
# Both backends (OpenZFS 2, zfs-fuse 0.7) accept these flags: tab-separated, exact numbers.
ZFS_GET = "zfs get -H -p -o name,property,value " + ",".join(ZFS_PROPERTIES)


def parse_zfs_get(text: str) -> dict[str, dict[str, str]]:
    """`zfs get -H -p -o name,property,value …` → {dataset: {property: value}}."""
    found: dict[str, dict[str, str]] = {}
    for line in text.splitlines():
        fields = line.split("\t")
        if len(fields) == 3:
            name, prop, value = fields
            found.setdefault(name, {})[prop] = value
    return found


def usable_bytes(props: dict[str, dict[str, str]], pool: str) -> int:
    """What data can use of a pool: its root dataset's used + available (after parity)."""
    return int(props[pool]["used"]) + int(props[pool]["available"])


@dataclass(frozen=True)
class Vdev:
    kind: str  # raidz2, raidz1, mirror, or disk (a single-disk stripe)
    leaves: tuple[str, ...]


@dataclass(frozen=True)
class PoolStatus:
    health: str
    vdevs: tuple[Vdev, ...]  # the top-level data vdevs
    spares: tuple[str, ...]


_GROUP = re.compile(r"^(raidz[123]?|mirror|draid[123]?\S*)(-\d+)?$")
_INTERMEDIATE = re.compile(r"^(replacing|spare)(-\d+)?$")
_SECTIONS = {"logs", "cache", "spares", "special", "dedup"}


def parse_zpool_status(text: str) -> dict[str, PoolStatus]:
    """`zpool status` → {pool: health, data vdevs with their leaf devices, spares}.

    The config table is read by indentation: the pool and section names (`spares`, `logs`, …)
    at the first level, top-level vdevs one below, their devices below that.
    """
    result: dict[str, PoolStatus] = {}
    blocks: list[list[str]] = []
    for line in text.splitlines():
        if line.strip().startswith("pool:"):
            blocks.append([])
        if blocks:
            blocks[-1].append(line)
    for block in blocks:
        name = block[0].split(":", 1)[1].strip()
        health = next(
            (ln.split(":", 1)[1].strip() for ln in block if ln.strip().startswith("state:")), ""
        )
        rows: list[tuple[int, str]] = []
        in_table = False
        for line in block:
            words = line.split()
            if not in_table:
                in_table = words[:2] == ["NAME", "STATE"]
                continue
            if not words or line.strip().startswith("errors:"):
                if rows:
                    break
                continue
            expanded = line.expandtabs(8)
            rows.append((len(expanded) - len(expanded.lstrip()), words[0]))
        result[name] = _pool_status(health, rows)
    return result


def _pool_status(health: str, rows: list[tuple[int, str]]) -> PoolStatus:
    if not rows:
        return PoolStatus(health, (), ())
    top = rows[0][0]
    vdev_level = min((indent for indent, _ in rows if indent > top), default=top + 2)
    vdevs: list[tuple[str, list[str]]] = []
    spares: list[str] = []
    where = "data"
    for indent, word in rows[1:]:
        if indent == top:
            where = word if word in _SECTIONS else "other"
        elif where == "spares":
            spares.append(word)
        elif where != "data":
            continue
        elif indent == vdev_level:
            group = _GROUP.match(word)
            kind = VDEV_KINDS.get(group.group(1), group.group(1)) if group else "disk"
            vdevs.append((kind, [] if group else [word]))
        elif vdevs and not _INTERMEDIATE.match(word):
            vdevs[-1][1].append(word)
    return PoolStatus(
        health, tuple(Vdev(kind, tuple(leaves)) for kind, leaves in vdevs), tuple(spares)
    )


def device_name(path: str) -> str:
    """How `zpool status` shows a device: OpenZFS drops /dev/disk/by-id/ and friends, files
    keep their path; compare by the last component."""
    return path.rstrip("/").rsplit("/", 1)[-1]


# --- postgres ----------------------------------------------------------------------------------

PG_SECRETS_DIR = f"{CONFIG_DIR}/secrets/postgres"  # generated passwords, root-only
PG_MOVED_SUFFIX = ".in-vault"  # what a password moved into Vault leaves behind
PG_MONITOR_ROLE = SERVICE_USER  # the agent's own role (peer over the socket, or Vault's password)
# With Vault on the host the agent keeps its history and state in its own database, as its own
# role (password in Vault); without Vault it keeps them in SQLite.
PG_AGENT_ROLE = "sovereign_agent"
PG_AGENT_DATABASE = "sovereign_agent"
PG_CERT = f"{TLS_DIR}/postgres.crt"
PG_KEY = f"{TLS_DIR}/postgres.key"


@dataclass(frozen=True)
class PgRole:
    name: str
    login: bool


@dataclass(frozen=True)
class PgDatabase:
    name: str
    owner: str


@dataclass(frozen=True)
class Postgres:
    version: int
    cluster: str
    data_dir: str
    port: int
    listen: tuple[str, ...]
    networks: tuple[str, ...]
    roles: tuple[PgRole, ...]
    databases: tuple[PgDatabase, ...]
    agent_database: bool  # the agent's own role and database (hosts with Vault)

    @classmethod
    def of(cls, data: HostData) -> Postgres:
        """PostgreSQL 15 (Debian bookworm's), cluster `main` on the tank/postgres dataset, port
        5432, listening on localhost and the host's IP, pg_hba open to the appliance subnet
        over TLS only (hostssl), with a certificate from the appliance CA."""
        pg = section(data, "postgres")
        listen = pg.get("listen_addresses")
        if listen is None:
            listen = ["localhost", *filter(None, [host_ip(data)])]
        networks = pg.get("allowed_networks")
        if networks is None:
            subnet = data.get("appliance_subnet")
            networks = [subnet] if subnet else []
        return cls(
            version=int(pg.get("version", 15)),
            cluster=pg.get("cluster", "main"),
            data_dir=str(pg.get("data_dir", "/tank/postgres")).rstrip("/"),
            port=int(pg.get("port", 5432)),
            listen=tuple(listen),
            networks=tuple(str(ipaddress.ip_network(n, strict=False)) for n in networks),
            roles=tuple(PgRole(r["name"], bool(r.get("login", True))) for r in pg.get("roles", [])),
            databases=tuple(PgDatabase(d["name"], d["owner"]) for d in pg.get("databases", [])),
            agent_database=data.get("vault") is not None,
        )

    @property
    def unit(self) -> str:
        return f"postgresql@{self.version}-{self.cluster}.service"

    @property
    def every_role(self) -> tuple[PgRole, ...]:
        """The declared roles and the agent's own (they have passwords too)."""
        agents = [PG_MONITOR_ROLE, *([PG_AGENT_ROLE] if self.agent_database else [])]
        return (*self.roles, *(PgRole(name, True) for name in agents))

    @property
    def every_database(self) -> tuple[PgDatabase, ...]:
        agents = [PgDatabase(PG_AGENT_DATABASE, PG_AGENT_ROLE)] if self.agent_database else []
        return (*self.databases, *agents)

    @property
    def cluster_dir(self) -> str:
        return f"{self.data_dir}/{self.version}/{self.cluster}"


# --- broker ------------------------------------------------------------------------------------

DEFAULT_TOPICS = (("sovereign.alerts", 3), ("sovereign.storage", 3), ("sovereign.sync", 3))


@dataclass(frozen=True)
class Broker:
    flavour: str
    address: str
    port: int
    topics: tuple[tuple[str, int], ...]

    @classmethod
    def of(cls, data: HostData) -> Broker:
        """Redpanda (production) or Tansu (the lab), one unit named after the flavour, on the
        declared address or 127.0.0.1 (loopback: the agent on the host is its client), port
        9092, the appliance's topics by default."""
        broker = section(data, "broker")
        address = broker.get("listen_address") or "127.0.0.1"
        topics = broker.get("topics")
        return cls(
            flavour=broker.get("flavour", "redpanda"),
            address=address,
            port=int(broker.get("port", 9092)),
            topics=(
                DEFAULT_TOPICS
                if topics is None
                else tuple((t["name"], int(t.get("partitions", 3))) for t in topics)
            ),
        )

    @property
    def unit(self) -> str:
        return f"{self.flavour}.service"


# --- vault -------------------------------------------------------------------------------------

VAULT_UNIT = "vault.service"
VAULT_USER = "vault"
VAULT_DIR = f"{CONFIG_DIR}/vault"
VAULT_CA_CERT = f"{VAULT_DIR}/tls/ca.crt"
VAULT_SERVER_KEY = f"{VAULT_DIR}/tls/server.key"
VAULT_SEAL_KEY = f"{VAULT_DIR}/seal.key"
VAULT_AGENT_DIR = f"{VAULT_DIR}/agent"
VAULT_AGENT_ROLE_ID = f"{VAULT_AGENT_DIR}/role-id"
VAULT_AGENT_SECRET_ID = f"{VAULT_AGENT_DIR}/secret-id"
# The only PostgreSQL secrets the agent may read: its own roles'.
VAULT_AGENT_PG_SECRET = f"postgres/{PG_MONITOR_ROLE}"
VAULT_AGENT_DB_SECRET = f"postgres/{PG_AGENT_ROLE}"


@dataclass(frozen=True)
class Vault:
    flavour: str
    binary: str
    address: str
    port: int
    data_dir: str
    data_is_dataset: bool
    audit_log: str
    seal: str
    mlock: bool
    kv_mount: str
    cluster_port: int
    cluster_address: str  # loopback unless peers are declared

    @classmethod
    def of(cls, data: HostData) -> Vault | None:
        """OpenBao (`bao` from the artifact cache) or HashiCorp Vault, TLS on the declared
        address or the host's IP and on 127.0.0.1, port 8200, raft on /tank/vault, audit to
        /var/log/vault/audit.log, static seal, KV v2 at `sovereign`; the cluster port 8201 on
        127.0.0.1 unless `peers` are declared (then on the API's address). None: no Vault."""
        if data.get("vault") is None:
            return None
        vault = section(data, "vault")
        flavour = vault.get("flavour", "openbao")
        if flavour == "openbao":
            binary = "/usr/local/bin/bao"
        elif vault.get("hashicorp_source", "apt") == "artifact":
            binary = "/usr/local/bin/vault"
        else:
            binary = "/usr/bin/vault"
        address = vault.get("listen_address") or host_ip(data)
        if address is None:
            raise AssertionError("vault.listen_address is required when ssh_hostname is no IP")
        return cls(
            flavour=flavour,
            binary=binary,
            address=address,
            port=int(vault.get("port", 8200)),
            data_dir=str(vault.get("data_dir", "/tank/vault")).rstrip("/"),
            data_is_dataset=bool(vault.get("data_is_dataset", True)),
            audit_log=vault.get("audit_log", "/var/log/vault/audit.log"),
            seal=vault.get("seal", "static"),
            mlock=bool(vault.get("mlock", False)),
            kv_mount=vault.get("kv_mount", "sovereign"),
            cluster_port=int(vault.get("cluster_port", 8201)),
            cluster_address=address if data.get("peers") else "127.0.0.1",
        )


# --- agent -------------------------------------------------------------------------------------

AGENT_UNIT = "sovereign-agent.service"
AGENT_CONFIG = f"{CONFIG_DIR}/agent.toml"


# The agent's host admin CLI (README: "python -m appliance.security"), run as root on the host.
AGENT_CLI = (
    f"APPLIANCE_CONFIG_FILE={AGENT_CONFIG} /opt/sovereign/agent/bin/python -m appliance.security"
)


@dataclass(frozen=True)
class Agent:
    address: str
    port: int

    @classmethod
    def of(cls, data: HostData) -> Agent:
        """Port 8013 on the declared address, else 127.0.0.1 (behind the edge)."""
        agent = section(data, "agent")
        return cls(
            address=agent.get("listen_address") or "127.0.0.1",
            port=int(agent.get("port", 8013)),
        )

    @property
    def url(self) -> str:
        return f"http://{self.address}:{self.port}"


# --- edge --------------------------------------------------------------------------------------

EDGE_UNIT = "nginx.service"
EDGE_CERT = f"{TLS_DIR}/edge.crt"
EDGE_KEY = f"{TLS_DIR}/edge.key"
# The headers every HTTPS answer of the edge carries (README, "The edge").
EDGE_HEADERS = {
    "strict-transport-security": "max-age=31536000",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "content-security-policy": (
        "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    ),
}


@dataclass(frozen=True)
class Edge:
    port: int
    http: str  # redirect | off
    http_port: int
    listen: tuple[str, ...]
    hsts_max_age_s: int
    health_cache_s: int

    @classmethod
    def of(cls, data: HostData) -> Edge:
        """nginx: HTTPS on 443 on every IPv4 address, plain HTTP on 80 redirected."""
        edge = section(data, "edge")
        return cls(
            port=int(edge.get("port", 443)),
            http=edge.get("http", "redirect"),
            http_port=int(edge.get("http_port", 80)),
            listen=tuple(edge.get("listen_addresses") or ["0.0.0.0"]),  # noqa: S104
            hsts_max_age_s=int(edge.get("hsts_max_age_s", 31_536_000)),
            health_cache_s=int(edge.get("health_cache_s", 1)),
        )

    @property
    def ports(self) -> tuple[int, ...]:
        return (self.port, *((self.http_port,) if self.http == "redirect" else ()))

    def url(self, address: str) -> str:
        where = f"[{address}]" if ":" in address else address
        return f"https://{where}:{self.port}"


# --- firewall ----------------------------------------------------------------------------------

FIREWALL_UNIT = "sovereign-firewall.service"
FIREWALL_TABLE = "sovereign"
REDPANDA_RPC_PORT = 33145


def _cidr(value: str) -> str:
    return str(ipaddress.ip_network(value, strict=False))


@dataclass(frozen=True)
class Firewall:
    enabled: bool
    # port -> the sources it is open to (addresses or networks), TCP
    openings: dict[int, tuple[str, ...]]

    @classmethod
    def of(cls, data: HostData) -> Firewall:
        """nftables, inbound default drop; open: SSH to firewall.admin_networks (anywhere when
        unset), the edge's ports to anywhere, PostgreSQL to its declared networks, Vault's API
        and cluster ports and Redpanda's Kafka and RPC ports to `peers`, and `allow`."""
        fw = section(data, "firewall")
        admin = tuple(_cidr(n) for n in fw.get("admin_networks") or EVERYWHERE)
        openings: dict[int, tuple[str, ...]] = {int(data.get("ssh_port") or 22): admin}
        appliance = not is_backup_host(data)  # a backup host opens SSH and `allow` only
        for port in Edge.of(data).ports if appliance else []:
            openings[port] = EVERYWHERE
        pg = Postgres.of(data)
        if pg.networks and appliance:
            openings[pg.port] = pg.networks
        peers = tuple(_cidr(p) for p in data.get("peers") or []) if appliance else ()
        vault = Vault.of(data)
        if peers and vault is not None:
            openings[vault.port] = peers
            openings[vault.cluster_port] = peers
        broker = Broker.of(data)
        if peers and broker.flavour == "redpanda":
            openings[broker.port] = peers
            openings[REDPANDA_RPC_PORT] = peers
        for opening in fw.get("allow") or []:
            if opening.get("protocol", "tcp") == "tcp":
                sources = opening.get("sources") or EVERYWHERE
                openings[int(opening["port"])] = tuple(_cidr(s) for s in sources)
        return cls(enabled=bool(fw.get("enabled", True)), openings=openings)


# --- mail --------------------------------------------------------------------------------------

MAIL_UNIT = "postfix.service"
MAIL_MAIN_CF = "/etc/postfix/main.cf"
# With `mail.capture` (the lab) every message goes to this local user's Maildir.
MAIL_SINK_USER = "mailsink"
MAIL_SINK_MAILDIR = "/var/lib/sovereign-mail/Maildir"


@dataclass(frozen=True)
class Mail:
    enabled: bool
    capture: bool
    relayhost: str

    @classmethod
    def of(cls, data: HostData) -> Mail:
        """postfix on loopback only (port 25), on by default; no relay, no capture."""
        mail = section(data, "mail")
        return cls(
            enabled=bool(mail.get("enabled", True)),
            capture=bool(mail.get("capture", False)),
            relayhost=str(mail.get("relayhost") or ""),
        )
