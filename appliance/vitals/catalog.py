"""The scalar metrics the agent exposes, self-described (name, description, unit)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from appliance.vitals.models import SystemVitals


@dataclass(frozen=True, slots=True)
class MetricDef:
    name: str
    description: str
    unit: str
    read: Callable[[SystemVitals], float]


CATALOG: dict[str, MetricDef] = {
    m.name: m
    for m in (
        MetricDef(
            "cpu_percent",
            "CPU busy time over the last interval",
            "percent",
            lambda v: v.cpu_percent,
        ),
        MetricDef(
            "memory_percent",
            "Memory in use (total - available)",
            "percent",
            lambda v: v.memory_percent,
        ),
        MetricDef("swap_percent", "Swap in use", "percent", lambda v: v.swap_percent),
        MetricDef(
            "load_1_per_core", "1-minute load average / cores", "ratio", lambda v: v.load.one
        ),
        MetricDef(
            "load_5_per_core", "5-minute load average / cores", "ratio", lambda v: v.load.five
        ),
        MetricDef(
            "load_15_per_core", "15-minute load average / cores", "ratio", lambda v: v.load.fifteen
        ),
        MetricDef(
            "disk_max_percent",
            "Fullest mounted file system",
            "percent",
            lambda v: v.disk_max_percent,
        ),
        MetricDef(
            "net_bytes_sent_per_s",
            "Bytes sent, all interfaces but lo",
            "bytes/s",
            lambda v: v.net_bytes_sent_per_s,
        ),
        MetricDef(
            "net_bytes_recv_per_s",
            "Bytes received, all interfaces but lo",
            "bytes/s",
            lambda v: v.net_bytes_recv_per_s,
        ),
        MetricDef(
            "process_count", "Processes on the host", "count", lambda v: float(v.process_count)
        ),
        MetricDef("zombie_count", "Zombie processes", "count", lambda v: float(len(v.zombies))),
        MetricDef(
            "leak_suspect_count",
            "Processes whose RSS grew steadily",
            "count",
            lambda v: float(len(v.leak_suspects)),
        ),
    )
}


def scalar_metrics(vitals: SystemVitals) -> dict[str, float]:
    return {name: float(m.read(vitals)) for name, m in CATALOG.items()}
