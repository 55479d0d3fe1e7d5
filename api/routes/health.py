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
from appliance.lifecycle import LifecycleState
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


class LatestSummaryJson:
    """The /health answer, serialised once per health round or lifecycle change instead of
    once per request: balancers poll it often, and building and validating the model was
    most of the route's own time."""

    def __init__(self) -> None:
        self._report: HealthReport | None = None  # held, so its identity is not reused
        self._state: tuple[LifecycleState, bool] | None = None
        self._body = b""

    def body(self, report: HealthReport, state: LifecycleState, ready: bool) -> bytes:
        if report is not self._report or (state, ready) != self._state:
            summary = HealthSummary(
                status=report.status, lifecycle=state, ready=ready, checked_at=report.checked_at
            )
            self._body = summary.model_dump_json().encode()
            self._report, self._state = report, (state, ready)
        return self._body


_LATEST_SUMMARY = LatestSummaryJson()


@router.get("", response_model=HealthSummary, responses=_NOT_READY)
async def health(runtime: RuntimeDep) -> Response:
    """Overall health. 200 when ready and not unhealthy, 503 otherwise (for balancers).
    The one route without a token: it tells no more than up or not."""
    report = _last(runtime)
    lifecycle = runtime.lifecycle
    ready = lifecycle.ready
    status = 503 if not ready or report.status is OverallStatus.UNHEALTHY else 200
    body = _LATEST_SUMMARY.body(report, lifecycle.state, ready)
    return Response(body, status_code=status, media_type="application/json")


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
