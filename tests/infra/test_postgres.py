"""The PostgreSQL role's outcome: running on the ZFS dataset, declared roles and databases,
listening only where declared, secrets root-only."""

from __future__ import annotations

from typing import Any

import pytest

from roles.postgres import unit_name
from roles.postgres.facts import SECRETS_DIR, PgState
from roles.postgres.settings import PostgresSettings, resolve_listen


@pytest.fixture
def pg(host_data: dict[str, Any]) -> PostgresSettings:
    return PostgresSettings.model_validate(host_data.get("postgres") or {})


@pytest.fixture
def state(host: Any, pg: PostgresSettings) -> dict[str, Any]:
    return PgState().process(host.check_output(PgState().command(port=pg.port)).splitlines())


def test_unit_running_and_enabled(host: Any, pg: PostgresSettings) -> None:
    assert host.service(unit_name(pg)).is_running
    assert host.service(unit_name(pg)).is_enabled


def test_data_directory_on_the_zfs_dataset(
    host: Any, pg: PostgresSettings, state: dict[str, Any]
) -> None:
    [cluster] = [c for c in state["clusters"] if c["name"] == pg.cluster]
    assert cluster["data_dir"] == pg.cluster_dir
    assert cluster["status"] == "online"
    # The directory is on a ZFS file system (zfs-fuse shows as fuse.zfs-fuse / fuse).
    fstype = host.check_output(f"stat -f -c %T {pg.cluster_dir}")
    mount_source = host.check_output(f"findmnt -n -o SOURCE --target {pg.cluster_dir}")
    assert fstype in ("zfs", "fuseblk", "fuse") or "fuse" in fstype, fstype
    assert mount_source.startswith(pg.data_dir.strip("/").split("/")[0] + "/"), mount_source


def test_declared_roles_and_databases_exist(pg: PostgresSettings, state: dict[str, Any]) -> None:
    for role in pg.roles:
        assert state["roles"].get(role.name) == ("t" if role.login else "f"), role.name
    for db in pg.databases:
        assert state["databases"].get(db.name) == db.owner, db.name


def test_passwords_are_root_only_files(
    host: Any, pg: PostgresSettings, host_data: dict[str, Any]
) -> None:
    secrets = host.file(SECRETS_DIR)
    assert (secrets.user, secrets.mode) == ("root", 0o700)
    if host_data.get("vault") is not None:
        pytest.skip("the passwords are in Vault (tests/infra/test_vault.py)")
    for role in pg.roles:
        f = host.file(f"{SECRETS_DIR}/{role.name}")
        assert (f.user, f.group, f.mode) == ("root", "root", 0o600)
        assert f.size >= 32


def test_listens_only_on_declared_addresses(
    host: Any, pg: PostgresSettings, host_data: dict[str, Any]
) -> None:
    declared = {
        "127.0.0.1" if a == "localhost" else a
        for a in resolve_listen(pg, host_data.get("ssh_hostname"))
    }
    listening = {
        line.split()[3].rsplit(":", 1)[0]
        for line in host.check_output(f"ss -Hltn sport = :{pg.port}").splitlines()
    }
    assert listening - {"[::1]"} == declared


def test_password_login_over_tcp(
    host: Any, pg: PostgresSettings, host_data: dict[str, Any]
) -> None:
    if host_data.get("vault") is not None:
        pytest.skip("the passwords are in Vault (tests/infra/test_vault.py)")
    for role in pg.roles:
        if not role.login:
            continue
        db = next((d.name for d in pg.databases if d.owner == role.name), "postgres")
        out = host.check_output(
            f'PGPASSWORD="$(cat {SECRETS_DIR}/{role.name})" psql -X -At -h 127.0.0.1 '
            f"-p {pg.port} -U {role.name} -d {db} -c 'select current_user'"
        )
        assert out == role.name
