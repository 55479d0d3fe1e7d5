"""Pure status logic: vitals readings + thresholds -> HEALTHY / DEGRADED / CRITICAL_LOAD."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from appliance.vitals.models import VitalsStatus
from appliance.vitals.settings import VitalsThresholds


@dataclass(frozen=True, slots=True)
class Readings:
    """The inputs the status depends on, so the logic can be tested without a host."""

    cpu_percent: float
    memory_percent: float
    swap_percent: float
    load_per_core: float
    disk_percents: dict[str, float]
    zombie_count: int


def _level(name: str, value: float, warning: float, critical: float) -> tuple[VitalsStatus, str]:
    if value >= critical:
        return VitalsStatus.CRITICAL_LOAD, f"{name} {value:.1f} >= critical {critical:g}"
    if value >= warning:
        return VitalsStatus.DEGRADED, f"{name} {value:.1f} >= warning {warning:g}"
    return VitalsStatus.HEALTHY, ""


_RANK = {VitalsStatus.HEALTHY: 0, VitalsStatus.DEGRADED: 1, VitalsStatus.CRITICAL_LOAD: 2}


def worst(statuses: Iterable[VitalsStatus]) -> VitalsStatus:
    return max(statuses, key=_RANK.__getitem__, default=VitalsStatus.HEALTHY)


def evaluate(readings: Readings, t: VitalsThresholds) -> tuple[VitalsStatus, tuple[str, ...]]:
    """The worst level over all readings, and a reason for every reading at or above warning."""
    checks = [
        _level("cpu_percent", readings.cpu_percent, t.cpu_warning, t.cpu_critical),
        _level("memory_percent", readings.memory_percent, t.memory_warning, t.memory_critical),
        _level("swap_percent", readings.swap_percent, t.swap_warning, t.swap_critical),
        _level(
            "load_per_core",
            readings.load_per_core,
            t.load_per_core_warning,
            t.load_per_core_critical,
        ),
    ]
    checks += [
        _level(f"disk_percent[{mount}]", percent, t.disk_warning, t.disk_critical)
        for mount, percent in sorted(readings.disk_percents.items())
    ]
    # Zombies hint at a broken parent, not at load: they degrade but never make it critical.
    if readings.zombie_count >= t.zombie_warning:
        checks.append(
            (
                VitalsStatus.DEGRADED,
                f"zombie_count {readings.zombie_count} >= warning {t.zombie_warning}",
            )
        )
    status = worst(level for level, _ in checks)
    return status, tuple(reason for _, reason in checks if reason)
