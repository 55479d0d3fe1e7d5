"""The storage role's outcome: each pool healthy with its declared topology (by default `tank`,
RAID-Z2 over the host's disks), each dataset with its declared quotas and properties, mounted."""

from __future__ import annotations

from typing import Any

import pytest

from tests.infra.expected import (
    VDEV_KINDS,
    ZFS_GET,
    Dataset,
    HostData,
    Pool,
    PoolStatus,
    dataset_mountpoint,
    device_name,
    expected_bytes,
    parse_zfs_get,
    parse_zpool_status,
    size_bytes,
    usable_bytes,
    zfs_backend,
)


def _zfs_unit(data: HostData) -> str:
    return "zfs-fuse" if zfs_backend(data) == "zfs-fuse" else "zfs-mount"


pytestmark = pytest.mark.journal.with_args(_zfs_unit)


@pytest.fixture(scope="module")
def zpool_status(host: Any) -> dict[str, PoolStatus]:
    return parse_zpool_status(host.check_output("zpool status"))


@pytest.fixture(scope="module")
def zfs_props(host: Any) -> dict[str, dict[str, str]]:
    return parse_zfs_get(host.check_output(ZFS_GET))


def test_zfs_running(host: Any, host_data: HostData) -> None:
    if zfs_backend(host_data) == "zfs-fuse":
        assert host.service("zfs-fuse").is_running
        assert host.service("zfs-fuse").is_enabled
    else:
        assert host.file("/sys/module/zfs").is_directory


def test_pool_online(pool: Pool, zpool_status: dict[str, PoolStatus]) -> None:
    assert pool.name in zpool_status, f"pool {pool.name} missing"
    assert zpool_status[pool.name].health == "ONLINE"


def test_pool_has_declared_topology(pool: Pool, zpool_status: dict[str, PoolStatus]) -> None:
    """One vdev of the declared layout over exactly the declared disks, and the declared
    spares."""
    assert pool.name in zpool_status, f"pool {pool.name} missing"
    status = zpool_status[pool.name]
    assert [v.kind for v in status.vdevs] == [VDEV_KINDS[pool.layout]]
    [vdev] = status.vdevs
    assert sorted(device_name(d) for d in vdev.leaves) == sorted(map(device_name, pool.disks))
    assert sorted(map(device_name, status.spares)) == sorted(map(device_name, pool.spares))


def test_dataset_sizes(dataset: Dataset, zfs_props: dict[str, dict[str, str]]) -> None:
    """Quotas and reservations as declared; a percentage is of the pool's usable space (its
    root dataset's used + available), within 1 % of the pool as the pool's size drifts."""
    assert dataset.name in zfs_props, f"dataset {dataset.name} missing"
    props = zfs_props[dataset.name]
    usable = usable_bytes(zfs_props, dataset.pool)
    declared = {
        prop: value
        for prop in ("quota", "refquota", "reservation")
        if (value := getattr(dataset, prop)) is not None
    }
    for_prop = {}
    for prop, value in declared.items():
        want, have = expected_bytes(value, usable), int(props[prop])
        slack = max(usable // 100, 1) if value.endswith("%") else 0
        for_prop[prop] = "as declared" if abs(have - want) <= slack else f"{have} != {want}"
    assert for_prop == dict.fromkeys(declared, "as declared")


def test_dataset_properties(dataset: Dataset, zfs_props: dict[str, dict[str, str]]) -> None:
    assert dataset.name in zfs_props, f"dataset {dataset.name} missing"
    props = zfs_props[dataset.name]
    assert props["type"] == "filesystem"
    declared = {
        "compression": dataset.compression,
        "recordsize": dataset.recordsize and str(size_bytes(dataset.recordsize)),
        "atime": dataset.atime,
    }
    want = {k: v for k, v in declared.items() if v is not None}
    assert {k: props[k] for k in want} == want


def test_dataset_mounted(
    host: Any, dataset: Dataset, host_data: HostData, zfs_props: dict[str, dict[str, str]]
) -> None:
    mountpoint = dataset_mountpoint(dataset, host_data)
    assert zfs_props[dataset.name]["mountpoint"] == mountpoint
    if mountpoint not in ("none", "legacy"):
        assert zfs_props[dataset.name]["mounted"] == "yes"
        assert host.mount_point(mountpoint).exists, mountpoint
