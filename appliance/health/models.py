"""Health value objects; the string values are the API's wire values."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class ServiceStatus(StrEnum):
    UP = "up"
    DOWN = "down"
    DEGRADED = "degraded"


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


@dataclass(frozen=True, slots=True)
class CheckResult:
    name: str
    status: ServiceStatus
    latency_ms: float
    checked_at: float
    critical: bool
    message: str = ""
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class HealthReport:
    status: OverallStatus
    services: dict[str, CheckResult]
    checked_at: float


def overall(results: dict[str, CheckResult]) -> OverallStatus:
    """A critical check down makes the appliance unhealthy; anything else not up degrades it."""
    status = OverallStatus.HEALTHY
    for result in results.values():
        if result.status is ServiceStatus.DOWN and result.critical:
            return OverallStatus.UNHEALTHY
        if result.status is not ServiceStatus.UP:
            status = OverallStatus.DEGRADED
    return status
