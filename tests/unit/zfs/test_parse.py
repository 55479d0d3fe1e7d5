"""Parsers on captured output: zfs-fuse captured live here, OpenZFS from public sources."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance.zfs import commands
from appliance.zfs.capabilities import parse_capabilities
from appliance.zfs.errors import ZfsUnavailableError
from appliance.zfs.properties import parse_zfs_get, pool_usable_bytes
from appliance.zfs.sizes import parse_size
from appliance.zfs.state import parse_state, state_from_dict, state_to_dict
from appliance.zfs.status import parse_zpool_status
from roles.zfs.backends import BASELINE

FIX = Path(__file__).parent / "fixtures"


def text(name: str) -> str:
    return (FIX / name).read_text()


@pytest.mark.parametrize(
    ("value", "expected"),
    [("1024", 1024), ("512M", 512 * 2**20), ("10G", 10 * 2**30), ("1.5T", int(1.5 * 2**40)),
     ("4k", 4096), ("2GiB", 2 * 2**30), (" 16K ", 16384)],
)  # fmt: skip
def test_parse_size(value: str, expected: int) -> None:
    assert parse_size(value) == expected


@pytest.mark.parametrize("value", ["", "ten", "10X", "-5G", "1.5", "G"])
def test_parse_size_rejects(value: str) -> None:
    with pytest.raises(ValueError, match="not a size"):
        parse_size(value)


def test_zfs_fuse_raidz2_with_spare() -> None:
    pools = parse_zpool_status(text("zfs-fuse/status-online.txt"))
    assert sorted(pools) == ["mpool", "tank"]
    tank = pools["tank"]
    assert (tank.health, tank.redundancy, tank.scan.state) == ("ONLINE", "raidz2", "none")
    (vdev,) = tank.vdevs
    assert (vdev.name, vdev.kind) == ("raidz2-0", "raidz2")
    assert [d.name for d in vdev.children] == [f"/tmp/zfscapture/d{i}" for i in range(1, 7)]
    assert {d.kind for d in vdev.children} == {"file"}
    assert [(s.name, s.state) for s in tank.spares] == [("/tmp/zfscapture/d7", "AVAIL")]
    assert tank.errors == "No known data errors"
    assert pools["mpool"].redundancy == "mirror"


def test_zfs_fuse_two_offline_is_degraded() -> None:
    tank = parse_zpool_status(text("zfs-fuse/status-degraded-2.txt"))["tank"]
    assert tank.health == "DEGRADED"
    assert "taken offline" in tank.status
    states = {d.name[-2:]: d.state for d in tank.vdevs[0].children}
    assert states == {"d1": "ONLINE", "d2": "OFFLINE", "d3": "ONLINE", "d4": "ONLINE",
                      "d5": "OFFLINE", "d6": "ONLINE"}  # fmt: skip


def test_zfs_fuse_spare_in_use_and_resilver() -> None:
    tank = parse_zpool_status(text("zfs-fuse/status-spare-resilver.txt"))["tank"]
    spare = tank.vdevs[0].children[1]
    assert (spare.name, spare.kind, spare.state) == ("spare-1", "spare", "DEGRADED")
    assert [c.note for c in spare.children] == ["", "158M resilvered"]
    assert tank.spares[0].state == "INUSE"
    assert tank.scan.state == "resilver_finished"
    assert tank.redundancy == "raidz2"


@pytest.mark.parametrize(
    ("fixture", "state", "percent"),
    [
        ("zfs-fuse/status-scrub-progress.txt", "scrub_in_progress", 1.94),
        ("zfs-fuse/status-scrub-finished.txt", "scrub_finished", None),
        ("zfs-fuse/status-scrub-repaired.txt", "scrub_finished", None),
        ("openzfs/status-raidz2-write-error.txt", "scrub_finished", None),
        ("openzfs/status-mirrors-degraded-scrubbing.txt", "scrub_in_progress", 86.49),
        ("openzfs/status-mirror-resilvered-P.txt", "resilver_finished", None),
    ],
)
def test_scan_states(fixture: str, state: str, percent: float | None) -> None:
    (pool,) = parse_zpool_status(text(fixture)).values()
    assert pool.scan.state == state
    assert pool.scan.percent_done == percent
    assert pool.scan.errors == 0


def test_openzfs_raidz2_write_error_counted() -> None:
    tank = parse_zpool_status(text("openzfs/status-raidz2-write-error.txt"))["tank"]
    sda = tank.vdevs[0].children[-1]
    assert (sda.name, sda.read_errors, sda.write_errors, sda.checksum_errors) == ("sda", 0, 1, 0)
    assert tank.redundancy == "raidz2"


def test_openzfs_degraded_mirrors_spaces_and_was_note() -> None:
    data = parse_zpool_status(text("openzfs/status-mirrors-degraded-scrubbing.txt"))["data"]
    assert data.health == "DEGRADED"
    assert [v.name for v in data.vdevs] == ["mirror-0", "mirror-1", "mirror-2"]
    gone = data.vdevs[0].children[0]
    assert gone.state == "UNAVAIL"
    assert gone.note.startswith("was /dev/disk/by-id/ata-ST10000VN0004")
    assert data.redundancy == "mirror"


def test_no_pools_and_daemon_down() -> None:
    assert parse_zpool_status("no pools available\n") == {}
    down = parse_state(text("zfs-fuse/state-daemon-down.txt"))
    assert down.error is not None and "zfs-fuse daemon is running" in down.error
    with pytest.raises(ZfsUnavailableError):
        parse_zpool_status(text("zfs-fuse/state-daemon-down.txt"))


def test_zfs_get_exact_bytes_and_usable() -> None:
    props = parse_zfs_get(text("zfs-fuse/zfs-get-Hp.txt"))
    assert props["tank/nextcloud"]["quota"] == "1073741824"
    assert props["tank/postgres"]["recordsize"] == "8192"
    assert props["tank/nextcloud"]["compression"] == "gzip"  # set as gzip-6
    assert "tank/nextcloud@snap1" in props
    assert pool_usable_bytes(props, "tank") == (78067208, 4123663864)


def test_zfs_get_rejects_garbage() -> None:
    with pytest.raises(ValueError, match="unexpected"):
        parse_zfs_get("cannot open 'x': dataset does not exist\n")


def test_state_one_command_both_pools() -> None:
    state = parse_state(text("zfs-fuse/state-two-pools.txt"))
    assert sorted(state.pools) == ["mpool", "tank"]
    assert "tank/nextcloud@snap1" not in state.datasets  # snapshots filtered
    assert set(state.datasets["tank/vault"]) == set(commands.DATASET_PROPERTIES)
    assert state.capabilities is not None and "lz4" not in state.capabilities.compression
    # the plain-dict form the fact hands to operations round-trips
    again = state_from_dict(state_to_dict(state))
    assert again.pools["tank"].vdevs == state.pools["tank"].vdevs
    assert again.capabilities == state.capabilities
    assert again.datasets == state.datasets


def test_capabilities_detected_per_backend() -> None:
    fuse = parse_capabilities(
        text("zfs-fuse/zpool-get-usage.txt"), text("zfs-fuse/zfs-get-usage.txt")
    )
    ozfs = parse_capabilities(
        text("openzfs/zpool-get-usage.txt"), text("openzfs/zfs-get-usage.txt")
    )
    assert fuse.zpool_get_flags == frozenset() and ozfs.zpool_get_flags == frozenset("Hp")
    assert "lz4" not in fuse.compression and {"lz4", "zstd", "zstd-fast-1000"} <= ozfs.compression
    assert (fuse.ashift, ozfs.ashift) == ((9, 13), (9, 16))
    assert (fuse.max_recordsize, ozfs.max_recordsize) == (128 * 1024, 1024 * 1024)
    assert fuse.check_dataset_property("compression", "lz4") is not None
    assert ozfs.check_dataset_property("compression", "lz4") is None
    assert "sa" in ozfs.xattr and "sa" not in fuse.xattr


@pytest.mark.parametrize(
    ("backend", "zpool_usage", "zfs_usage"),
    [
        ("zfs-fuse", "zfs-fuse/zpool-get-usage.txt", "zfs-fuse/zfs-get-usage.txt"),
        ("openzfs", "openzfs/zpool-get-usage.txt", "openzfs/zfs-get-usage.txt"),
    ],
)
def test_baseline_matches_detected(backend: str, zpool_usage: str, zfs_usage: str) -> None:
    """The pre-install baseline must agree with what the real tools print."""
    detected = parse_capabilities(text(zpool_usage), text(zfs_usage))
    base = BASELINE[backend]  # type: ignore[index]
    assert base.compression == detected.compression
    assert base.ashift == detected.ashift
    assert base.max_recordsize == detected.max_recordsize
    assert base.zpool_get_flags == detected.zpool_get_flags
    assert base.dataset_properties <= detected.dataset_properties


def test_state_command_is_one_command_with_every_section() -> None:
    cmd = commands.state_command()
    for section in ("zpool-status", "zfs-get", "zpool-get-usage", "zfs-get-usage", "end"):
        assert f"{commands.MARKER} {section}" in cmd
    assert "zfs get -H -p -o name,property,value" in cmd
    assert " -P" not in cmd  # zfs-fuse has no `zpool status -P`
