"""Builders for test data: raw snapshots and settings, without a host."""

from __future__ import annotations

from typing import Any

from appliance.config import Settings
from appliance.vitals.models import DiskUsage, NetworkCounters, ProcessInfo, RawSnapshot

GIB = 1024**3


def make_settings(**overrides: Any) -> Settings:
    base: dict[str, Any] = {"sqlite_path": ":memory:", "sample_interval_s": 1.0}
    base.update(overrides)
    return Settings(**base)


def proc(pid: int, rss: int, status: str = "running", name: str = "", ppid: int = 1) -> ProcessInfo:
    return ProcessInfo(
        pid=pid, name=name or f"p{pid}", rss_bytes=rss, status=status, ppid=ppid, create_time=100.0
    )


def snapshot(
    ts: float = 1000.0,
    *,
    cpu: float = 10.0,
    memory: float = 20.0,
    swap: float = 0.0,
    swap_total: int = GIB,
    load1: float = 0.2,
    cores: int = 2,
    disks: tuple[tuple[str, float], ...] = (("/", 30.0),),
    sent: int = 0,
    recv: int = 0,
    processes: tuple[ProcessInfo, ...] = (),
) -> RawSnapshot:
    return RawSnapshot(
        ts=ts,
        cpu_percent=cpu,
        cpu_count=cores,
        memory_percent=memory,
        memory_total_bytes=8 * GIB,
        memory_available_bytes=int(8 * GIB * (1 - memory / 100)),
        swap_percent=swap,
        swap_total_bytes=swap_total,
        swap_used_bytes=int(swap_total * swap / 100),
        load_avg=(load1 * cores, load1 * cores, load1 * cores),
        disks=tuple(
            DiskUsage(m, "/dev/x", "ext4", 100 * GIB, int(p * GIB), int((100 - p) * GIB), p)
            for m, p in disks
        ),
        network={"eth0": NetworkCounters(sent, recv, sent // 100, recv // 100, 0, 0)},
        processes=processes or (proc(1, 50 * 1024 * 1024, name="init"),),
    )


class FakeCollector:
    """Returns queued snapshots in order; the last one repeats."""

    def __init__(self, *snapshots: RawSnapshot) -> None:
        self._queue = list(snapshots) or [snapshot()]
        self.calls = 0

    def push(self, *snapshots: RawSnapshot) -> None:
        self._queue.extend(snapshots)

    def collect(self) -> RawSnapshot:
        self.calls += 1
        if len(self._queue) > 1:
            return self._queue.pop(0)
        return self._queue[0]
