"""Backend-neutral ZFS state (what a backend reads) and the reports built from it."""

from __future__ import annotations

from dataclasses import dataclass, field

from appliance.health.models import Level

TB = 10**12


@dataclass(frozen=True, slots=True)
class PoolState:
    name: str
    health: str
    redundancy: str
    scan_state: str
    scan_errors: int
    scan_text: str
    read_errors: int
    write_errors: int
    checksum_errors: int
    errors_text: str
    #: Member losses the pool still survives (appliance.zfs.redundancy); None: unknown.
    redundancy_remaining: int | None = None
    #: Data members zpool marks lost, e.g. ``("/dev/sdb OFFLINE",)``.
    lost_devices: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ZfsReading:
    """One reading: pools from ``zpool status``, dataset properties from ``zfs get -Hp``."""

    backend: str
    pools: dict[str, PoolState]
    datasets: dict[str, dict[str, str]]
    capabilities: dict[str, bool] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DatasetReport:
    name: str
    used_bytes: int
    available_bytes: int
    referenced_bytes: int
    quota_bytes: int | None
    refquota_bytes: int | None
    quota_percent: float | None
    refquota_percent: float | None
    quota_level: Level = Level.OK
    refquota_level: Level = Level.OK
    #: Where it is mounted (None: not mounted, legacy or none).
    mountpoint: str | None = None
    #: used / (used + available): how full the space this dataset may use is.
    space_percent: float | None = None
    space_level: Level = Level.OK
    #: The worst of the three.
    level: Level = Level.OK


@dataclass(frozen=True, slots=True)
class PoolReport:
    name: str
    health: str
    redundancy: str
    size_bytes: int
    used_bytes: int
    free_bytes: int
    size_tb: float
    used_tb: float
    free_tb: float
    capacity_percent: float
    scrub_state: str
    scrub_errors: int
    read_errors: int
    write_errors: int
    checksum_errors: int
    errors: str
    datasets: list[DatasetReport]
    redundancy_remaining: int | None = None
    lost_devices: tuple[str, ...] = ()
    redundancy_level: Level = Level.OK
    capacity_level: Level = Level.OK
    #: The highest capacity class crossed (85/90/95 % by default); None below them.
    capacity_threshold: float | None = None
    #: The worst of health, redundancy and capacity (datasets have their own).
    level: Level = Level.OK


@dataclass(frozen=True, slots=True)
class StorageReport:
    backend: str
    checked_at: float
    pools: list[PoolReport]
    capabilities: dict[str, bool]
