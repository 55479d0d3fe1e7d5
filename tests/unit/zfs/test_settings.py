# ruff: noqa: E501  (a table of cases reads best one per line)
"""Storage settings: bad input fails before anything runs, naming the field."""

from __future__ import annotations

from typing import Any

import pytest

from roles.settings import RoleSettingsError
from roles.spec import resolve_storage

LAB = [f"/lab/disks/disk{i}" for i in range(1, 7)]


def resolve(raw: dict[str, Any] | None, backend: str = "zfs-fuse") -> Any:
    return resolve_storage(raw, LAB, backend, "h1")  # type: ignore[arg-type]


def test_lab_default_is_tank_raidz2_over_lab_disks_with_five_datasets() -> None:
    cfg = resolve(None)
    (pool,) = cfg.pools
    assert (pool.name, pool.layout, pool.disks) == ("tank", "raidz2", LAB)
    assert [d.name for d in cfg.datasets] == [
        "tank/nextcloud", "tank/postgres", "tank/vault", "tank/backups", "tank/agent"
    ]  # fmt: skip
    assert all(d.quota and d.quota.endswith("%") for d in cfg.datasets)


def test_production_disks_by_id() -> None:
    disks = [f"/dev/disk/by-id/ata-X{i}" for i in range(4)]
    cfg = resolve_storage({"disks": disks}, None, "openzfs", "h1")
    assert cfg.pools[0].disks == disks


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"disks": LAB[:3]}, r"storage\.pools\.0: .*raidz2 needs at least 4 disks"),
        ({"disks": [*LAB[:4], LAB[0]]}, r"storage\.pools\.0: .*listed twice"),
        ({"disks": ["/dev/sda", "/dev/sdb", "/dev/sdc", "/dev/sdd"]}, r"storage\.pools\.0\.disks: .*by-id"),
        ({"datasets": [{"name": "other/x"}]}, r"datasets\.0\.name: 'other/x' is in no declared pool"),
        ({"datasets": [{"name": "tank/x", "quota": "12 furlongs"}]}, r"storage\.datasets\.0\.quota: .*not a size"),
        ({"datasets": [{"name": "tank/x", "quota": "120%"}]}, r"storage\.datasets\.0\.quota: .*percentage"),
        ({"datasets": [{"name": "tank/x", "recordsize": "12K"}]}, r"storage\.datasets\.0\.recordsize: .*power of two"),
        ({"datasets": [{"name": "tank/x", "compression": "lz4"}]}, r"storage\.datasets: .*lz4.*zfs-fuse"),
        ({"datasets": [{"name": "tank/x", "recordsize": "1M"}]}, r"storage\.datasets: .*recordsize .*maximum"),
        ({"pools": [{"name": "raidz", "disks": LAB}]}, r"storage\.pools\.0\.name"),
        ({"pools": [{"disks": LAB, "ashift": 20}]}, r"storage\.pools\.0\.ashift"),
        ({"pools": [{"disks": LAB}], "colour": "red"}, r"storage\.colour"),
    ],
)  # fmt: skip
def test_bad_input_names_the_field(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(RoleSettingsError, match=message):
        resolve(raw)


def test_lz4_is_fine_on_openzfs() -> None:
    disks = [f"/dev/disk/by-id/ata-X{i}" for i in range(4)]
    cfg = resolve_storage(
        {"disks": disks, "datasets": [{"name": "tank/x", "compression": "lz4", "quota": "1.5T"}]},
        None,
        "openzfs",
        "h1",
    )
    assert cfg.datasets[0].quota == str(int(1.5 * 2**40))


def test_mirror_needs_two_and_pools_do_not_share_disks() -> None:
    with pytest.raises(RoleSettingsError, match="mirror needs at least 2"):
        resolve({"pools": [{"layout": "mirror", "disks": LAB[:1]}]})
    with pytest.raises(RoleSettingsError, match="used by two pools"):
        resolve(
            {"pools": [{"disks": LAB[:4]}, {"name": "b", "layout": "mirror", "disks": LAB[3:5]}]}
        )
