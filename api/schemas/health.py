from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from appliance.health.models import Level, OverallStatus, ServiceStatus
from appliance.lifecycle import LifecycleState


class HealthSummary(BaseModel):
    """Cheap overall health: the last background round plus the agent's lifecycle state."""

    status: OverallStatus = Field(description="Overall status of the last background round.")
    lifecycle: LifecycleState = Field(
        description="Agent lifecycle; anything but 'ready' answers HTTP 503."
    )
    ready: bool = Field(description="True when the agent accepts traffic.")
    checked_at: float = Field(description="Unix time of the last health round.")


class ServiceHealth(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    status: ServiceStatus = Field(description="Result of the check.")
    level: Level = Field(
        description="ok, warning or critical: how bad for the appliance. Usually follows the "
        "status (degraded is a warning); a pool with no redundancy left is degraded (it "
        "serves) but critical, and a critical check at level critical makes it unhealthy."
    )
    latency_ms: float = Field(description="How long the check took, in milliseconds.")
    critical: bool = Field(description="Whether 'down' makes the appliance unhealthy.")
    message: str = Field(description="Why the service is not up; empty when up.")
    checked_at: float = Field(description="Unix time the check finished.")
    details: dict[str, Any] = Field(description="Check-specific facts.")


class HealthDetailed(BaseModel):
    status: OverallStatus = Field(description="healthy, degraded or unhealthy.")
    services: dict[str, ServiceHealth] = Field(description="One entry per registered check.")
