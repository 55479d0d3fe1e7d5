"""The storage role's outcome: pools healthy with the declared topology, datasets as declared."""

from __future__ import annotations

from typing import Any

import pytest

from appliance.zfs.commands import state_command
from appliance.zfs.properties import pool_usable_bytes
from appliance.zfs.sizes import parse_size
from appliance.zfs.state import ZfsState, parse_state
from roles.zfs import resolve_settings
from roles.zfs.backends import parse_backend
from roles.zfs.settings import DatasetSpec, StorageSettings


@pytest.fixture
def storage(host_data: dict[str, Any], host_name: str) -> StorageSettings:
    backend = parse_backend(host_data.get("zfs_backend"), host_name)
    return resolve_settings(host_data.get("storage"), host_data.get("lab_disks"), backend,
                            host_name)  # fmt: skip


@pytest.fixture
def zfs(host: Any) -> ZfsState:
    state = parse_state(host.check_output(state_command(capabilities=False)))
    assert state.error is None, state.error
    return state


def test_zfs_service_running(host: Any, host_data: dict[str, Any]) -> None:
    if host_data.get("zfs_backend") == "zfs-fuse":
        assert host.service("zfs-fuse").is_running
        assert host.service("zfs-fuse").is_enabled
    else:
        assert host.file("/sys/module/zfs").is_directory


def test_pools_online_with_declared_topology(storage: StorageSettings, zfs: ZfsState) -> None:
    for spec in storage.pools:
        pool = zfs.pools.get(spec.name)
        assert pool is not None, f"pool {spec.name} missing"
        assert pool.health == "ONLINE"
        assert pool.redundancy == spec.layout
        leaves = [leaf.name for vdev in pool.vdevs for leaf in vdev.leaves()]
        assert len(leaves) == len(spec.disks)
        assert {d.rsplit("/", 1)[-1] for d in leaves} == {d.rsplit("/", 1)[-1] for d in spec.disks}


def _expected_bytes(value: str, usable: int) -> int | None:
    if value == "none":
        return None
    if value.endswith("%"):
        return int(usable * float(value[:-1]) / 100)
    return parse_size(value)


def _check_dataset(spec: DatasetSpec, props: dict[str, str], usable: int) -> None:
    for prop in ("quota", "refquota", "reservation"):
        want = getattr(spec, prop)
        if want is None:
            continue
        expected = _expected_bytes(want, usable)
        have = int(props[prop])
        if expected is None:
            assert have == 0, f"{spec.name} {prop}"
        else:  # percentages are re-derived from the pool's size: allow 1 % of the pool
            assert abs(have - expected) <= max(usable // 100, 1), f"{spec.name} {prop}"
    if spec.compression:
        assert props["compression"] == spec.compression, spec.name
    if spec.recordsize:
        assert props["recordsize"] == spec.recordsize, spec.name
    assert props["mountpoint"] == (spec.mountpoint or f"/{spec.name}"), spec.name


def test_datasets_as_declared(storage: StorageSettings, zfs: ZfsState) -> None:
    for spec in storage.datasets:
        pool = spec.name.split("/", 1)[0]
        used, available = pool_usable_bytes(zfs.datasets, pool)
        assert spec.name in zfs.datasets, f"dataset {spec.name} missing"
        _check_dataset(spec, zfs.datasets[spec.name], used + available)


def test_datasets_mounted(host: Any, storage: StorageSettings) -> None:
    for spec in storage.datasets:
        mountpoint = spec.mountpoint or f"/{spec.name}"
        if mountpoint not in ("none", "legacy"):
            assert host.mount_point(mountpoint).exists, mountpoint
