"""Vitals value objects. Units are in the field names (``_bytes``, ``_percent``, ``_per_s``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class VitalsStatus(StrEnum):
    HEALTHY = "HEALTHY"
    DEGRADED = "DEGRADED"
    CRITICAL_LOAD = "CRITICAL_LOAD"


@dataclass(frozen=True, slots=True)
class DiskUsage:
    mountpoint: str
    device: str
    fstype: str
    total_bytes: int
    used_bytes: int
    free_bytes: int
    percent: float


@dataclass(frozen=True, slots=True)
class NetworkCounters:
    """Cumulative counters as the kernel reports them (per interface)."""

    bytes_sent: int
    bytes_recv: int
    packets_sent: int
    packets_recv: int
    errin: int
    errout: int


@dataclass(frozen=True, slots=True)
class NetworkRate:
    interface: str
    bytes_sent_per_s: float
    bytes_recv_per_s: float
    packets_sent_per_s: float
    packets_recv_per_s: float
    errors_per_s: float


@dataclass(frozen=True, slots=True)
class ProcessInfo:
    pid: int
    name: str
    rss_bytes: int
    status: str
    ppid: int
    create_time: float


@dataclass(frozen=True, slots=True)
class RawSnapshot:
    """One reading from the host, before rates and status are derived."""

    ts: float
    cpu_percent: float
    cpu_count: int
    memory_percent: float
    memory_total_bytes: int
    memory_available_bytes: int
    swap_percent: float
    swap_total_bytes: int
    swap_used_bytes: int
    load_avg: tuple[float, float, float]
    disks: tuple[DiskUsage, ...]
    network: dict[str, NetworkCounters]
    processes: tuple[ProcessInfo, ...]


@dataclass(frozen=True, slots=True)
class LoadPerCore:
    one: float
    five: float
    fifteen: float


@dataclass(frozen=True, slots=True)
class ZombieProcess:
    pid: int
    ppid: int
    name: str


@dataclass(frozen=True, slots=True)
class LeakSuspect:
    pid: int
    name: str
    first_rss_bytes: int
    last_rss_bytes: int
    growth_bytes: int
    growth_ratio: float
    samples: int
    window_s: float


@dataclass(frozen=True, slots=True)
class SystemVitals:
    ts: float
    cpu_percent: float
    cpu_count: int
    memory_percent: float
    memory_total_bytes: int
    memory_available_bytes: int
    swap_percent: float
    swap_total_bytes: int
    swap_used_bytes: int
    load: LoadPerCore
    disks: tuple[DiskUsage, ...]
    network: tuple[NetworkRate, ...]
    process_count: int
    zombies: tuple[ZombieProcess, ...]
    leak_suspects: tuple[LeakSuspect, ...]
    status: VitalsStatus
    reasons: tuple[str, ...] = field(default=())

    @property
    def net_bytes_sent_per_s(self) -> float:
        return sum(rate.bytes_sent_per_s for rate in self.network)

    @property
    def net_bytes_recv_per_s(self) -> float:
        return sum(rate.bytes_recv_per_s for rate in self.network)

    @property
    def disk_max_percent(self) -> float:
        return max((disk.percent for disk in self.disks), default=0.0)
