"""Storage math and backends on captured output (tests/unit/zfs/fixtures, captured there)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from appliance.command import CommandResult, HostCommandError
from appliance.errors import BackendUnavailable
from appliance.health.models import Level, OverallStatus, Probe, ServiceStatus
from appliance.health.registry import HealthRegistry
from appliance.storage.backends import (
    CliBackend,
    LibzfsBackend,
    pool_state,
    reading_from_state_output,
)
from appliance.storage.capacity import dataset_report, pool_report
from appliance.storage.check import ZfsPoolsCheck
from appliance.storage.levels import LevelLimits, capacity_level
from appliance.storage.models import PoolState, ZfsReading
from appliance.storage.service import StorageService
from appliance.storage.settings import StorageThresholds
from appliance.zfs import commands
from appliance.zfs.state import split_sections
from appliance.zfs.status import parse_zpool_status

ZFS_FIX = Path(__file__).parents[1] / "zfs" / "fixtures"


def fixture(path: str) -> str:
    return (ZFS_FIX / path).read_text()


def section(name: str, body: str) -> str:
    return f"{commands.MARKER} {name}\n{body}\n"


def openzfs_state_output() -> str:
    """OpenZFS `zpool status` as captured, with `zfs get -Hp` lines for its raidz2 pool."""
    props = {
        "tank": {
            "type": "filesystem",
            "used": "6000000000000",
            "available": "4000000000000",
            "referenced": "200000",
            "quota": "0",
            "refquota": "0",
        },
        "tank/media": {
            "type": "filesystem",
            "used": "5000000000000",
            "available": "1000000000000",
            "referenced": "5000000000000",
            "quota": "6000000000000",
            "refquota": "0",
        },
    }
    zfs_get = "\n".join(f"{ds}\t{k}\t{v}" for ds, p in props.items() for k, v in p.items())
    return (
        section(commands.SECTION_STATUS, fixture("openzfs/status-raidz2-write-error.txt"))
        + section(commands.SECTION_PROPERTIES, zfs_get)
        + section(commands.SECTION_ZPOOL_USAGE, fixture("openzfs/zpool-get-usage.txt"))
        + section(commands.SECTION_ZFS_USAGE, fixture("openzfs/zfs-get-usage.txt"))
        + f"{commands.MARKER} {commands.SECTION_END}\n"
    )


def test_zfs_fuse_capture_usable_space_from_root_dataset_not_raw_size() -> None:
    reading = reading_from_state_output(fixture("zfs-fuse/state-two-pools.txt"), "cli")
    tank = pool_report(reading.pools["tank"], reading.datasets)
    assert (tank.health, tank.redundancy) == ("ONLINE", "raidz2")
    # used + available of the root dataset (zpool list would count raidz2 parity too).
    assert tank.used_bytes == 2285030120
    assert tank.free_bytes == 1916700952
    assert tank.size_bytes == 2285030120 + 1916700952
    assert tank.capacity_percent == round(2285030120 / (2285030120 + 1916700952) * 100, 2)
    assert tank.size_tb == round((2285030120 + 1916700952) / 1e12, 4)
    assert tank.scrub_state == "scrub_finished" and tank.scrub_errors == 0
    mpool = pool_report(reading.pools["mpool"], reading.datasets)
    assert mpool.redundancy == "mirror"
    assert mpool.scrub_state == "none"
    # zfs-fuse cannot print parsable `zpool get`; detected from its usage text.
    assert reading.capabilities["zfs_get_parsable"] is True
    assert reading.capabilities["compression_lz4"] is False


def test_zfs_fuse_capture_dataset_quotas() -> None:
    reading = reading_from_state_output(fixture("zfs-fuse/state-two-pools.txt"), "cli")
    tank = pool_report(reading.pools["tank"], reading.datasets)
    by_name = {d.name: d for d in tank.datasets}
    assert "tank/nextcloud@snap1" not in by_name  # snapshots are not datasets with quotas
    assert "mpool/agent" not in by_name  # another pool's dataset
    pg = by_name["tank/postgres"]
    assert (pg.quota_bytes, pg.refquota_bytes) == (536870912, 419430400)
    assert pg.quota_percent == round(21360240 / 536870912 * 100, 2)
    assert pg.refquota_percent == round(21360240 / 419430400 * 100, 2)
    backups = by_name["tank/backups"]
    assert (backups.quota_bytes, backups.quota_percent, backups.refquota_percent) == (
        None,
        None,
        None,
    )


def test_openzfs_capture() -> None:
    reading = reading_from_state_output(openzfs_state_output(), "cli")
    tank = pool_report(reading.pools["tank"], reading.datasets)
    assert (tank.redundancy, tank.write_errors, tank.read_errors) == ("raidz2", 1, 0)
    assert tank.scrub_state == "scrub_finished"
    assert (tank.size_tb, tank.used_tb, tank.free_tb, tank.capacity_percent) == (
        10.0,
        6.0,
        4.0,
        60.0,
    )
    media = {d.name: d for d in tank.datasets}["tank/media"]
    assert media.quota_percent == round(5 / 6 * 100, 2)
    assert reading.capabilities["compression_zstd"] is True
    assert reading.capabilities["zpool_get_parsable"] is True


def test_daemon_down_is_backend_unavailable() -> None:
    with pytest.raises(BackendUnavailable, match="zfs-fuse daemon is running"):
        reading_from_state_output(fixture("zfs-fuse/state-daemon-down.txt"), "cli")


def test_dataset_limits_none_and_dash() -> None:
    report = dataset_report(
        "p/x", {"used": "10", "referenced": "5", "quota": "none", "refquota": "-"}
    )
    assert (report.quota_bytes, report.refquota_bytes) == (None, None)


def test_cli_backend_reads_capabilities_once() -> None:
    calls: list[list[str]] = []

    def runner(argv: list[str], timeout: float) -> CommandResult:
        calls.append(argv)
        return CommandResult(tuple(argv), 0, fixture("zfs-fuse/state-two-pools.txt"), "")

    backend = CliBackend(5.0, runner)
    first, second = backend.read_state(), backend.read_state()
    assert calls[0][:2] == ["sh", "-c"] and "zfs get 2>&1" in calls[0][2]
    assert "zfs get 2>&1" not in calls[1][2]
    assert first.capabilities == second.capabilities != {}


def test_cli_backend_command_failure() -> None:
    def runner(argv: list[str], timeout: float) -> CommandResult:
        raise HostCommandError("sh: no answer within 5 s")

    with pytest.raises(BackendUnavailable, match="no answer"):
        CliBackend(5.0, runner).read_state()


def _fake_libzfs() -> Any:
    def vdev(kind: str, *children: Any, read: int = 0) -> Any:
        stats = SimpleNamespace(read_errors=read, write_errors=0, checksum_errors=0)
        return SimpleNamespace(type=kind, children=list(children), stats=stats)

    def prop(v: int) -> Any:
        return SimpleNamespace(rawvalue=str(v))

    child = SimpleNamespace(
        name="tank/a",
        children=[],
        properties={
            "used": prop(10),
            "available": prop(90),
            "referenced": prop(10),
            "quota": prop(20),
            "refquota": prop(0),
            "type": prop(0),
        },
    )
    child.properties["type"] = SimpleNamespace(rawvalue="filesystem")
    root = SimpleNamespace(
        name="tank",
        children=[child],
        properties={
            "used": prop(10),
            "available": prop(90),
            "type": SimpleNamespace(rawvalue="filesystem"),
        },
    )
    pool = SimpleNamespace(
        name="tank",
        status="ONLINE",
        groups={"data": [vdev("raidz2", vdev("disk"), vdev("disk", read=3))]},
        scrub=SimpleNamespace(
            state=SimpleNamespace(name="FINISHED"), function=SimpleNamespace(name="SCRUB"), errors=0
        ),
        root_dataset=root,
    )

    class ZFSException(Exception):
        pass

    return SimpleNamespace(ZFS=lambda: SimpleNamespace(pools=[pool]), ZFSException=ZFSException)


def test_libzfs_backend_with_fake_module() -> None:
    reading = LibzfsBackend(_fake_libzfs()).read_state()
    tank = pool_report(reading.pools["tank"], reading.datasets)
    assert (tank.redundancy, tank.read_errors, tank.scrub_state, tank.size_bytes) == (
        "raidz2",
        3,
        "scrub_finished",
        100,
    )
    assert [d.quota_percent for d in tank.datasets] == [None, 50.0]


class FakeBackend:
    name = "fake"

    def __init__(self, reading: ZfsReading) -> None:
        self.reading = reading
        self.reads = 0

    def read_state(self) -> ZfsReading:
        self.reads += 1
        return self.reading


def captured_backend() -> FakeBackend:
    return FakeBackend(reading_from_state_output(fixture("zfs-fuse/state-two-pools.txt"), "cli"))


def test_service_caches_for_ttl_and_filters_pools() -> None:
    now = [0.0]
    backend = captured_backend()
    svc = StorageService(lambda: backend, ["tank"], cache_ttl_s=10, clock=lambda: now[0])
    assert svc.last_report() is None
    assert [p.name for p in svc.check_storage_quota().pools] == ["tank"]
    now[0] = 9.9
    svc.check_storage_quota()
    assert backend.reads == 1
    now[0] = 10.0
    svc.check_storage_quota()
    assert backend.reads == 2
    assert svc.last_report() is not None


def test_service_missing_configured_pool() -> None:
    svc = StorageService(captured_backend, ["nope"], cache_ttl_s=0)
    with pytest.raises(BackendUnavailable, match="not imported: nope"):
        svc.check_storage_quota()


def pool(health: str = "ONLINE", write: int = 0) -> PoolState:
    return PoolState("tank", health, "raidz2", "none", 0, "", 0, write, 0, "No known data errors")


def props(used: int, avail: int) -> dict[str, dict[str, str]]:
    return {"tank": {"used": str(used), "available": str(avail), "type": "filesystem"}}


@pytest.mark.parametrize(
    ("state", "datasets", "status", "message"),
    [
        (pool(), props(10, 90), ServiceStatus.UP, ""),
        (pool("DEGRADED"), props(10, 90), ServiceStatus.DEGRADED, "tank is DEGRADED"),
        (pool(write=1), props(10, 90), ServiceStatus.DEGRADED, "errors"),
        (pool(), props(90, 10), ServiceStatus.DEGRADED, "90 % full"),
        (pool("FAULTED"), props(10, 90), ServiceStatus.DOWN, "FAULTED"),
    ],
)
def test_zfs_check(
    state: PoolState, datasets: dict[str, dict[str, str]], status: ServiceStatus, message: str
) -> None:
    svc = StorageService(lambda: FakeBackend(ZfsReading("fake", {"tank": state}, datasets)), [], 0)
    probe = ZfsPoolsCheck(svc).probe_blocking()
    assert probe.status is status
    assert message in probe.message


def test_zfs_check_backend_down() -> None:
    def broken() -> FakeBackend:
        raise BackendUnavailable("neither py-libzfs nor the zfs/zpool commands are installed")

    probe = ZfsPoolsCheck(StorageService(broken, [], 0)).probe_blocking()
    assert probe.status is ServiceStatus.DOWN and "neither" in probe.message


def state_with_status(status_fixture: str) -> str:
    """The captured two-pool state with its `zpool status` section swapped for another
    capture of the same lab pool (offlined disks): same datasets, other vdev states."""
    sections = split_sections(fixture("zfs-fuse/state-two-pools.txt"))
    sections[commands.SECTION_STATUS] = fixture(status_fixture)
    return "".join(section(name, body) for name, body in sections.items()) + (
        f"{commands.MARKER} {commands.SECTION_END}\n"
    )


def zfs_probe(state_text: str) -> tuple[Probe, OverallStatus]:
    reading = reading_from_state_output(state_text, "cli")
    svc = StorageService(lambda: FakeBackend(reading), ["tank"], 0)
    registry = HealthRegistry(5)
    registry.register(ZfsPoolsCheck(svc))
    report = asyncio.run(registry.run_all())
    result = report.services["zfs"]
    return Probe(result.status, result.message, result.details, result.level), report.status


def test_raidz2_with_both_parity_disks_gone_is_critical_and_unhealthy() -> None:
    """The drill: two of six disks offlined on the lab's raidz2 (zfs-fuse, captured)."""
    probe, overall_status = zfs_probe(state_with_status("zfs-fuse/status-degraded-2.txt"))
    assert (probe.status, probe.level) == (ServiceStatus.DEGRADED, Level.CRITICAL)
    assert overall_status is OverallStatus.UNHEALTHY
    assert probe.message == (
        "pool tank has no redundancy left (raidz2: /tmp/zfscapture/d2 OFFLINE, "
        "/tmp/zfscapture/d5 OFFLINE)"
    )
    assert probe.details["redundancy_remaining"] == {"tank": 0}
    assert probe.details["levels"] == {"tank": "critical"}


def test_raidz2_with_one_disk_gone_is_a_warning() -> None:
    probe, overall_status = zfs_probe(state_with_status("zfs-fuse/status-degraded-1.txt"))
    assert (probe.status, probe.level) == (ServiceStatus.DEGRADED, Level.WARNING)
    assert overall_status is OverallStatus.DEGRADED
    assert probe.message == "pool tank is DEGRADED, 1 more loss tolerated"


def test_openzfs_mirror_with_a_member_unavail_is_critical() -> None:
    status = parse_zpool_status(fixture("openzfs/status-mirrors-degraded-scrubbing.txt"))
    state = pool_state(status["data"])
    report = pool_report(state, {"data": {"used": "10", "available": "90"}})
    assert (report.redundancy_remaining, report.redundancy_level, report.level) == (
        0,
        Level.CRITICAL,
        Level.CRITICAL,
    )
    assert report.lost_devices == ("11478606759844821041 UNAVAIL",)


@pytest.mark.parametrize(
    ("used", "quota", "percent_used", "level"),
    [
        (8999, 10000, 89.99, Level.OK),
        (9212, 10000, 92.12, Level.WARNING),  # the drill's dataset: 92.12 % had no level
        (9500, 10000, 95.0, Level.CRITICAL),
    ],
)
def test_quota_levels(used: int, quota: int, percent_used: float, level: Level) -> None:
    report = dataset_report(
        "tank/nextcloud",
        {"used": str(used), "available": str(quota - used), "referenced": str(used),
         "quota": str(quota), "refquota": "0", "mountpoint": "/tank/nextcloud",
         "mounted": "yes"},
    )  # fmt: skip
    assert (report.quota_percent, report.quota_level, report.level) == (percent_used, level, level)
    assert report.mountpoint == "/tank/nextcloud"


def test_quota_levels_follow_the_settings() -> None:
    limits = LevelLimits(StorageThresholds(quota_warning=50, quota_critical=60))
    props = {"used": "55", "available": "45", "quota": "100"}
    assert dataset_report("p/x", props, limits).quota_level is Level.WARNING


@pytest.mark.parametrize(
    ("percent_used", "level", "threshold"),
    [(84.9, Level.OK, None), (85.0, Level.WARNING, 85.0), (90.0, Level.WARNING, 90.0),
     (95.0, Level.CRITICAL, 95.0)],
)  # fmt: skip
def test_pool_capacity_classes(percent_used: float, level: Level, threshold: float | None) -> None:
    assert capacity_level(percent_used, StorageThresholds()) == (level, threshold)


def test_disk_thresholds_apply_to_a_dataset_bounded_by_a_quota() -> None:
    """A dataset at 96 % of what it may use (an ancestor's quota) is past the host's
    disk_critical; the pool itself is nearly empty, so the pool levels say nothing."""
    datasets = {
        "tank": {"used": "1000", "available": "99000", "type": "filesystem"},
        "tank/db": {"used": "960", "available": "40", "quota": "0", "type": "filesystem",
                    "mountpoint": "/tank/db", "mounted": "yes"},
    }  # fmt: skip
    svc = StorageService(
        lambda: FakeBackend(ZfsReading("fake", {"tank": pool()}, datasets)),
        [],
        0,
        limits=LevelLimits(space_warning=80, space_critical=95),
    )
    db = svc.check_storage_quota().pools[0].datasets[1]
    assert (db.space_percent, db.space_level) == (96.0, Level.CRITICAL)
    probe = ZfsPoolsCheck(svc).probe_blocking()
    assert (probe.status, probe.level) == (ServiceStatus.DEGRADED, Level.WARNING)
    assert probe.message == "dataset tank/db at 96 % full (critical)"
    assert probe.details["datasets"] == {"tank/db": "critical"}
