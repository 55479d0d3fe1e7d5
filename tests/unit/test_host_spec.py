"""The host spec: each host's inventory data validated once, every bad field named at once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from controller.artifacts import default_dir
from roles.settings import RoleSettingsError
from roles.spec import parse_host_spec

DISKS = [f"/dev/disk/by-id/d{n}" for n in range(6)]


def host(**data: Any) -> dict[str, Any]:
    return {"ssh_hostname": "192.0.2.1", "storage": {"disks": DISKS}, **data}


def test_defaults_fill_every_role() -> None:
    spec = parse_host_spec("h1", host())
    assert spec.name == "h1" and spec.ssh_hostname == "192.0.2.1"
    assert spec.zfs_backend == "openzfs" and spec.vault is None and not spec.lab
    assert spec.artifacts_dir == default_dir()
    assert [p.name for p in spec.storage.pools] == ["tank"]
    assert spec.storage.pools[0].disks == DISKS
    assert [d.name for d in spec.storage.datasets] == [
        "tank/nextcloud", "tank/postgres", "tank/vault", "tank/backups", "tank/agent",
    ]  # fmt: skip
    assert spec.base.timezone == "UTC" and spec.broker.port == 9092 and spec.agent.port == 8013


def test_lab_host_data_is_a_valid_spec(tmp_path: Path) -> None:
    spec = parse_host_spec(
        "lab-1",
        {
            "ssh_hostname": "10.99.0.11", "ssh_user": "root", "ssh_key": "/k",
            "ssh_strict_host_key_checking": "yes", "lab": True,
            "lab_disks": [f"/lab/disks/disk{n}" for n in range(1, 7)],
            "zfs_backend": "zfs-fuse", "broker": {"flavour": "tansu"},
            "appliance_subnet": "10.99.0.0/24", "artifacts_dir": str(tmp_path),
            "vault": {"controller_dir": str(tmp_path / "vault")},
        },
    )  # fmt: skip
    assert spec.lab and spec.zfs_backend == "zfs-fuse"
    assert spec.storage.pools[0].disks[0] == "/lab/disks/disk1"
    assert spec.vault is not None and spec.vault.flavour == "openbao"
    assert spec.artifacts_dir == tmp_path and spec.appliance_subnet == "10.99.0.0/24"


def test_every_bad_field_is_named_at_once() -> None:
    with pytest.raises(RoleSettingsError) as err:
        parse_host_spec(
            "h1",
            host(
                base={"timezone": "../x"},
                broker={"flavour": "kafka"},
                postgres={"port": 1},
                vault={"seal": "nope"},
                appliance_subnet="not-a-net",
                zfs_backend="btrfs",
            ),
        )
    text = str(err.value)
    for field in ("base.timezone", "broker.flavour", "postgres.port", "vault.seal",
                  "appliance_subnet", "zfs_backend"):  # fmt: skip
        assert field in text, field
    assert text.count("host h1") >= 6


def test_an_unknown_top_level_key_is_refused() -> None:
    with pytest.raises(RoleSettingsError, match=r"unknown key\(s\) \['vautl'\]"):
        parse_host_spec("h1", host(vautl={}))
    # pyinfra's own connection settings and global arguments are not ours to refuse
    parse_host_spec("h1", host(ssh_port=2222, ssh_user="root", _sudo=True))


def test_what_roles_derive_is_checked_too() -> None:
    # No IP to listen on: Vault needs a declared listen address (the broker listens on
    # loopback, unless peers are declared: then it needs an address for them).
    with pytest.raises(RoleSettingsError) as err:
        parse_host_spec("h1", host(ssh_hostname="nas1.example.org", vault={}, peers=["10.0.0.2"]))
    assert "broker.peer_address" in str(err.value)
    assert "vault.listen_address" in str(err.value)
    # The agent's config file is validated by the agent's own model at parse time.
    with pytest.raises(RoleSettingsError, match=r"agent\.sample_interval_s"):
        parse_host_spec("h1", host(agent={"config": {"sample_interval_s": -1}}))


def test_the_spec_is_immutable() -> None:
    spec = parse_host_spec("h1", host())
    with pytest.raises(ValueError, match="frozen"):
        spec.name = "other"  # type: ignore[misc]
