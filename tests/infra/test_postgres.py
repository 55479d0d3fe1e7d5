"""The PostgreSQL role's outcome: PostgreSQL 15 with its cluster on the tank/postgres dataset,
the declared roles and databases (and the agent's own role), listening and accepting
connections only where the inventory says, passwords generated on the host and root-only."""

from __future__ import annotations

import ipaddress
import shlex
from typing import Any

import pytest

from tests.infra.conftest import exposure
from tests.infra.expected import (
    APPLIANCE_CA,
    EXPOSURE_LIMIT,
    PG_CERT,
    PG_KEY,
    PG_MONITOR_ROLE,
    PG_MOVED_SUFFIX,
    PG_SECRETS_DIR,
    HostData,
    PgDatabase,
    PgRole,
    Postgres,
    dataset_mountpoint,
    datasets,
    host_ip,
)

pytestmark = pytest.mark.journal.with_args(lambda data: Postgres.of(data).unit)

SCRAM = "scram-sha-256"


@pytest.fixture(scope="module")
def pg(host_data: HostData) -> Postgres:
    return Postgres.of(host_data)


def sql(host: Any, pg: Postgres, query: str) -> list[list[str]]:
    """Rows of a query run as the postgres OS user over the local socket (peer auth)."""
    out = host.check_output(
        f"cd / && runuser -u postgres -- psql -X -A -t -F '|' -p {pg.port} -d postgres "
        f"-c {shlex.quote(query)}"
    )
    return [line.split("|") for line in out.splitlines() if line]


def cidr(address: str, netmask: str) -> str:
    """`127.0.0.1` + `255.255.255.255` → `127.0.0.1/32` (pg_hba_file_rules splits them)."""
    prefix = bin(int(ipaddress.ip_address(netmask))).count("1")
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


def test_unit_running_and_enabled(host: Any, pg: Postgres) -> None:
    assert host.service(pg.unit).is_running
    assert host.service(pg.unit).is_enabled


def test_cluster_online_in_its_directory(host: Any, pg: Postgres) -> None:
    clusters = [
        line.split() for line in host.check_output("pg_lsclusters --no-header").splitlines()
    ]
    mine = [c for c in clusters if c[:2] == [str(pg.version), pg.cluster]]
    assert len(mine) == 1, clusters
    _version, _name, port, status, owner, data_dir, *_ = mine[0]
    assert (port, status, owner, data_dir) == (str(pg.port), "online", "postgres", pg.cluster_dir)


def test_cluster_on_its_zfs_dataset(host: Any, pg: Postgres, host_data: HostData) -> None:
    """The cluster's directory is on the file system mounted at data_dir, which is the
    dataset the storage settings mount there (tank/postgres by default)."""
    source, fstype, target = host.check_output(
        f"findmnt -n -o SOURCE,FSTYPE,TARGET --target {pg.cluster_dir}"
    ).split()
    assert target == pg.data_dir
    assert fstype == "zfs" or "fuse" in fstype, fstype  # zfs-fuse: fuse / fuse.zfs-fuse
    here = [d.name for d in datasets(host_data) if dataset_mountpoint(d, host_data) == target]
    assert [source] == here


def test_role_exists(host: Any, pg: Postgres, pg_role: PgRole) -> None:
    can_login = dict(sql(host, pg, "select rolname, rolcanlogin from pg_roles"))
    assert can_login.get(pg_role.name) == ("t" if pg_role.login else "f")


def test_agent_role_may_monitor(host: Any, pg: Postgres) -> None:
    rows = sql(host, pg, f"select pg_has_role('{PG_MONITOR_ROLE}', 'pg_monitor', 'member')")
    assert rows == [["t"]]


def test_database_exists_with_its_owner(host: Any, pg: Postgres, pg_database: PgDatabase) -> None:
    owners = dict(sql(host, pg, "select datname, pg_get_userbyid(datdba) from pg_database"))
    assert owners.get(pg_database.name) == pg_database.owner


def test_secrets_dir_is_root_only(host: Any) -> None:
    secrets = host.file(PG_SECRETS_DIR)
    assert secrets.is_directory
    assert (secrets.user, secrets.group, secrets.mode) == ("root", "root", 0o700)


def test_password_generated_on_the_host(host: Any, host_data: HostData, pg_role: PgRole) -> None:
    """Each role's password is a root-only file, or (with Vault) moved into Vault, leaving a
    marker in place of the file."""
    path = f"{PG_SECRETS_DIR}/{pg_role.name}"
    if host_data.get("vault") is not None:
        assert host.file(path + PG_MOVED_SUFFIX).exists
        assert not host.file(path).exists
    else:
        f = host.file(path)
        assert (f.user, f.group, f.mode) == ("root", "root", 0o600)
        assert f.size >= 32


def test_listens_only_on_declared_addresses(host: Any, pg: Postgres) -> None:
    declared = {"127.0.0.1" if a == "localhost" else a for a in pg.listen}
    listening = {
        line.split()[3].rsplit(":", 1)[0].strip("[]")
        for line in host.check_output(f"ss -Hltn sport = :{pg.port}").splitlines()
    }
    assert listening - {"::1"} == declared


def test_pg_hba_allows_local_and_declared_networks_only(host: Any, pg: Postgres) -> None:
    """Peer auth on the socket; passwords (scram-sha-256) over loopback, and from the declared
    networks (the appliance subnet by default) over TLS only; nothing else."""
    rows = sql(
        host,
        pg,
        "select type, array_to_string(database, ','), array_to_string(user_name, ','), "
        "coalesce(address, ''), coalesce(netmask, ''), auth_method, coalesce(error, '') "
        "from pg_hba_file_rules",
    )
    assert [r for r in rows if r[6]] == [], "pg_hba.conf has lines PostgreSQL rejects"
    rules = sorted(
        (kind, db, user, cidr(addr, mask) if addr else "", method)
        for kind, db, user, addr, mask, method, _ in rows
    )
    allowed = [
        ("local", "all", "all", "", "peer"),
        ("host", "all", "all", "127.0.0.1/32", SCRAM),
        ("host", "all", "all", "::1/128", SCRAM),
        *(("hostssl", "all", "all", net, SCRAM) for net in pg.networks),
    ]
    assert rules == sorted(allowed)


def test_tls_with_the_appliance_ca_certificate(host: Any, pg: Postgres) -> None:
    assert sql(host, pg, "show ssl") == [["on"]]
    assert sql(host, pg, "show ssl_cert_file") == [[PG_CERT]]
    key = host.file(PG_KEY)
    assert (key.user, key.group, key.mode) == ("postgres", "postgres", 0o600)
    assert host.run(f"openssl verify -CAfile {APPLIANCE_CA} {PG_CERT}").rc == 0


def test_remote_clients_need_tls(host: Any, pg: Postgres, host_data: HostData) -> None:
    """From the host's own address (as a client of the declared networks would come): no
    entry without encryption; over TLS, verified against the appliance CA by address, the
    server asks for the password (no password given: nothing logs in)."""
    address = host_ip(host_data)
    if address is None or not pg.networks:
        pytest.skip("no declared network that includes the host's address")
    base = f"psql -X -w 'host={address} port={pg.port} dbname=postgres user={PG_MONITOR_ROLE}"
    plain = host.run(f"cd / && {base} sslmode=disable' -c 'select 1' 2>&1")
    assert plain.rc != 0
    assert "no encryption" in plain.stdout, plain.stdout
    tls = host.run(
        f"cd / && {base} sslmode=verify-full sslrootcert={APPLIANCE_CA}' -c 'select 1' 2>&1"
    )
    assert tls.rc != 0
    assert "no password supplied" in tls.stdout, tls.stdout


@pytest.mark.parametrize(
    ("prop", "value"),
    [
        ("User", "postgres"),
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("PrivateTmp", "yes"),
        ("PrivateDevices", "yes"),
        ("CapabilityBoundingSet", ""),
        ("MemoryDenyWriteExecute", "yes"),
    ],
)
def test_unit_hardened(host: Any, pg: Postgres, prop: str, value: str) -> None:
    assert host.check_output(f"systemctl show -p {prop} --value {pg.unit}") == value


def test_exposure_below_the_limit(host: Any, pg: Postgres) -> None:
    assert exposure(host, pg.unit) < EXPOSURE_LIMIT


def test_password_login_over_tcp(
    host: Any, pg: Postgres, host_data: HostData, pg_role: PgRole
) -> None:
    if host_data.get("vault") is not None:
        pytest.skip("the passwords are in Vault (tests/infra/test_vault.py)")
    if not pg_role.login:
        pytest.skip(f"{pg_role.name} may not log in")
    db = next((d.name for d in pg.databases if d.owner == pg_role.name), "postgres")
    out = host.check_output(
        f'PGPASSWORD="$(cat {PG_SECRETS_DIR}/{pg_role.name})" psql -X -At -h 127.0.0.1 '
        f"-p {pg.port} -U {pg_role.name} -d {db} -c 'select current_user'"
    )
    assert out == pg_role.name
