"""Remaining redundancy on captured `zpool status` output (zfs-fuse live, OpenZFS public)."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance.zfs.redundancy import lost_devices, remaining_redundancy, vdev_remaining
from appliance.zfs.status import PoolStatus, ScanInfo, Vdev, parse_zpool_status

FIX = Path(__file__).parent / "fixtures"


def pool_in(name: str, pool: str) -> PoolStatus:
    return parse_zpool_status((FIX / name).read_text())[pool]


@pytest.mark.parametrize(
    ("fixture", "pool", "health", "remaining"),
    [
        # zfs-fuse 0.7, captured live: raidz2 of six files, 0, 1 and 2 members offline.
        ("zfs-fuse/status-online.txt", "tank", "ONLINE", 2),
        ("zfs-fuse/status-online.txt", "mpool", "ONLINE", 1),
        ("zfs-fuse/status-degraded-1.txt", "tank", "DEGRADED", 1),
        ("zfs-fuse/status-degraded-2.txt", "tank", "DEGRADED", 0),
        # The lab host's own pool (roles/zfs, disk files under /lab/disks), two offlined.
        ("zfs-fuse/status-lab-raidz2-offline-2.txt", "tank", "DEGRADED", 0),
        # A spare took over d2's slot (spare-1 DEGRADED but serving); only d5 is lost.
        ("zfs-fuse/status-spare-resilver.txt", "tank", "DEGRADED", 1),
        # OpenZFS 2.x: raidz2 whole and with one disk FAULTED, a replacing group UNAVAIL
        # (one slot lost), and three mirrors with one member UNAVAIL (the weakest vdev wins).
        ("openzfs/status-raidz2-write-error.txt", "tank", "ONLINE", 2),
        ("openzfs/status-raidz2-faulted.txt", "rpool", "DEGRADED", 1),
        ("openzfs/status-raidz2-replacing-unavail.txt", "rpool", "DEGRADED", 1),
        ("openzfs/status-mirrors-degraded-scrubbing.txt", "data", "DEGRADED", 0),
        ("openzfs/status-mirror-resilvered-P.txt", "tank", "ONLINE", 1),
    ],
)
def test_remaining_redundancy_of_captured_pools(
    fixture: str, pool: str, health: str, remaining: int
) -> None:
    status = pool_in(fixture, pool)
    assert status.health == health
    assert remaining_redundancy(status) == remaining


def test_lost_devices_name_the_offline_members() -> None:
    status = pool_in("zfs-fuse/status-degraded-2.txt", "tank")
    assert lost_devices(status) == ["/tmp/zfscapture/d2 OFFLINE", "/tmp/zfscapture/d5 OFFLINE"]


def disk(name: str, state: str = "ONLINE") -> Vdev:
    return Vdev(name, "disk", state)


def group(kind: str, *states: str) -> Vdev:
    return Vdev(f"{kind}-0", kind, "ONLINE", children=tuple(disk(f"d{i}", s) for i, s in
                                                            enumerate(states)))  # fmt: skip


@pytest.mark.parametrize(
    ("vdev", "remaining"),
    [
        (group("raidz3", "ONLINE", "OFFLINE", "ONLINE", "ONLINE", "ONLINE"), 2),
        (group("raidz1", "REMOVED", "ONLINE", "ONLINE"), 0),
        (group("raidz1", "FAULTED", "UNAVAIL", "ONLINE"), -1),
        (group("draid2", *["ONLINE"] * 8), 2),
        (group("mirror", "ONLINE", "ONLINE", "ONLINE"), 2),
        (group("mirror", "ONLINE", "DEGRADED"), 1),  # a DEGRADED member still serves
        (disk("sda"), 0),
        (disk("sda", "FAULTED"), -1),
    ],
)
def test_vdev_remaining(vdev: Vdev, remaining: int) -> None:
    assert vdev_remaining(vdev) == remaining


def test_special_class_counts_and_logs_do_not() -> None:
    status = PoolStatus(
        name="tank",
        health="DEGRADED",
        vdevs=(group("raidz2", *["ONLINE"] * 6),),
        spares=(),
        scan=ScanInfo("none", 0, ""),
        errors="",
        other=(
            ("logs", (disk("nvme0", "FAULTED"),)),
            ("special", (group("mirror", "ONLINE", "OFFLINE"),)),
        ),
    )
    assert remaining_redundancy(status) == 0  # the special mirror, not the raidz2 or the log


def test_no_data_vdevs_is_unknown() -> None:
    assert (
        remaining_redundancy(PoolStatus("p", "ONLINE", (), (), ScanInfo("none", 0, ""), "")) is None
    )
