"""Backend-neutral ZFS state (what a backend reads) and the reports built from it."""

from __future__ import annotations

from dataclasses import dataclass, field

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


@dataclass(frozen=True, slots=True)
class StorageReport:
    backend: str
    checked_at: float
    pools: list[PoolReport]
    capabilities: dict[str, bool]
