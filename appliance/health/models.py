"""Health value objects; the string values are the API's wire values."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class ServiceStatus(StrEnum):
    UP = "up"
    DOWN = "down"
    DEGRADED = "degraded"


class Level(StrEnum):
    """How bad a finding is, for alert rules and the API: ok, warning or critical."""

    OK = "ok"
    WARNING = "warning"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _LEVEL_RANK[self]


_LEVEL_RANK = {Level.OK: 0, Level.WARNING: 1, Level.CRITICAL: 2}


def worst_level(levels: Iterable[Level]) -> Level:
    return max(levels, key=lambda level: level.rank, default=Level.OK)


def default_level(status: ServiceStatus) -> Level:
    """up is ok, degraded a warning, down critical (unless a probe says otherwise)."""
    return {
        ServiceStatus.UP: Level.OK,
        ServiceStatus.DEGRADED: Level.WARNING,
        ServiceStatus.DOWN: Level.CRITICAL,
    }[status]


class OverallStatus(StrEnum):
    HEALTHY = "healthy"
    DEGRADED = "degraded"
    UNHEALTHY = "unhealthy"


@dataclass(frozen=True, slots=True)
class Probe:
    """What a check found, before the registry adds timing."""

    status: ServiceStatus
    message: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    #: None: derived from the status. A pool with no redundancy left still serves (degraded)
    #: but is critical: one more lost disk loses data.
    level: Level | None = None

    @property
    def severity(self) -> Level:
        return self.level if self.level is not None else default_level(self.status)


@dataclass(frozen=True, slots=True)
class CheckResult:
    name: str
    status: ServiceStatus
    latency_ms: float
    checked_at: float
    critical: bool
    message: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    level: Level = Level.OK


@dataclass(frozen=True, slots=True)
class HealthReport:
    status: OverallStatus
    services: dict[str, CheckResult]
    checked_at: float


def overall(results: dict[str, CheckResult]) -> OverallStatus:
    """A critical check down or at level critical makes the appliance unhealthy; anything else
    not up degrades it."""
    status = OverallStatus.HEALTHY
    for result in results.values():
        if result.critical and (
            result.status is ServiceStatus.DOWN or result.level is Level.CRITICAL
        ):
            return OverallStatus.UNHEALTHY
        if result.status is not ServiceStatus.UP:
            status = OverallStatus.DEGRADED
    return status
