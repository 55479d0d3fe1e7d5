"""Health: served from the last background round, never running checks inline."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Response

from api.auth import require
from api.deps import RuntimeDep
from api.schemas.errors import AUTH_ERRORS, ErrorOut, error_responses
from api.schemas.health import HealthDetailed, HealthSummary, ServiceHealth
from appliance.errors import NotYetAvailable
from appliance.health.models import HealthReport, OverallStatus
from appliance.runtime import AgentRuntime
from appliance.security.roles import Role

router = APIRouter(prefix="/health", tags=["health"])

_NOT_READY: dict[int | str, dict[str, Any]] = {
    **error_responses(413, 429),
    503: {
        "model": HealthSummary | ErrorOut,
        "description": "Not ready (starting, draining) or unhealthy; before the first health "
        "round, an error body.",
    },
}


def _last(runtime: AgentRuntime) -> HealthReport:
    report = runtime.health.last
    if report is None:
        raise NotYetAvailable("no health round has completed yet")
    return report


@router.get("", response_model=HealthSummary, responses=_NOT_READY)
async def health(runtime: RuntimeDep, response: Response) -> HealthSummary:
    """Overall health. 200 when ready and not unhealthy, 503 otherwise (for balancers).
    The one route without a token: it tells no more than up or not."""
    report = _last(runtime)
    lifecycle = runtime.lifecycle
    if not lifecycle.ready or report.status is OverallStatus.UNHEALTHY:
        response.status_code = 503
    return HealthSummary(
        status=report.status,
        lifecycle=lifecycle.state,
        ready=lifecycle.ready,
        checked_at=report.checked_at,
    )


@router.get(
    "/detailed",
    response_model=HealthDetailed,
    dependencies=[Depends(require(Role.VIEWER))],
    responses=AUTH_ERRORS,
)
async def health_detailed(runtime: RuntimeDep) -> HealthDetailed:
    """Every check's last result: status, latency_ms and check-specific details."""
    report = _last(runtime)
    return HealthDetailed(
        status=report.status,
        services={
            name: ServiceHealth.model_validate(result)
            for name, result in sorted(report.services.items())
        },
    )
