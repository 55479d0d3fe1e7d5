"""Pure: ok / warning / critical for pools and datasets, from percentages and pool health.

Stateless on purpose (the API tells the level of this reading); hysteresis against flapping
around a threshold belongs to the alert rules that keep state between readings.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from appliance.health.models import Level
from appliance.storage.settings import StorageThresholds

#: zpool health that means the pool's data cannot be served.
LOST_HEALTH = frozenset({"FAULTED", "UNAVAIL", "SUSPENDED"})


@dataclass(frozen=True, slots=True)
class LevelLimits:
    """Every threshold the storage levels use, in one value."""

    storage: StorageThresholds = field(default_factory=StorageThresholds)
    #: The vitals' disk thresholds, applied to each dataset's own fullness.
    space_warning: float = 85.0
    space_critical: float = 95.0


#: The defaults: StorageThresholds' and VitalsThresholds' own.
DEFAULT_LIMITS = LevelLimits()


def percent_level(percent: float | None, warning: float, critical: float) -> Level:
    if percent is None:
        return Level.OK
    if percent >= critical:
        return Level.CRITICAL
    if percent >= warning:
        return Level.WARNING
    return Level.OK


def capacity_level(percent: float, t: StorageThresholds) -> tuple[Level, float | None]:
    """The level and the highest TrueNAS class crossed (85, 90, 95 by default; None below)."""
    for threshold, level in (
        (t.capacity_critical, Level.CRITICAL),
        (t.capacity_warning, Level.WARNING),
        (t.capacity_notice, Level.WARNING),
    ):
        if percent >= threshold:
            return level, threshold
    return Level.OK, None


def health_level(health: str) -> Level:
    if health == "ONLINE":
        return Level.OK
    return Level.CRITICAL if health in LOST_HEALTH else Level.WARNING


def redundancy_level(health: str, remaining: int | None) -> Level:
    """Critical when a pool that lost members has no redundancy left (one more loss and data
    is gone); a warning while it has some left. A healthy stripe has none by design: ok."""
    if health == "ONLINE" or remaining is None:
        return Level.OK
    return Level.CRITICAL if remaining <= 0 else Level.WARNING
