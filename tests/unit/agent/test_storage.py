"""Storage math and backends on captured output (tests/unit/zfs/fixtures, captured there)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from appliance.command import CommandResult, HostCommandError
from appliance.errors import BackendUnavailable
from appliance.health.models import ServiceStatus
from appliance.storage.backends import CliBackend, LibzfsBackend, reading_from_state_output
from appliance.storage.capacity import dataset_report, pool_report
from appliance.storage.check import ZfsPoolsCheck
from appliance.storage.models import PoolState, ZfsReading
from appliance.storage.service import StorageService
from appliance.zfs import commands

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
