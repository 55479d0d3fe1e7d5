"""Monitoring: vitals metrics, their history, performance, infrastructure."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool

from api.auth import require
from api.deps import InfrastructureDep, MonitoringDep, RuntimeDep
from api.schemas.errors import AUTH_ERRORS, error_responses
from api.schemas.monitoring import (
    ContainerCounts,
    ContainerOut,
    ContainersOut,
    HostOut,
    InfrastructureOut,
    LatencyOut,
    MetricHistoryOut,
    MetricOut,
    MetricsOut,
    PerformanceOut,
    SampleOut,
    ServicePerformanceOut,
    UnitCounts,
    UnitOut,
    VitalsOut,
)
from appliance.errors import UnknownMetric, UnknownService
from appliance.monitoring import MetricValue, MonitoringService
from appliance.security.roles import Role
from appliance.tracing.setup import Tracing
from appliance.tracing.telemetry import ServiceTelemetry
from appliance.vitals.models import SystemVitals

router = APIRouter(
    prefix="/api/monitoring",
    tags=["monitoring"],
    dependencies=[Depends(require(Role.VIEWER))],
    responses=AUTH_ERRORS,
)

_NOT_FOUND: dict[int | str, dict[str, Any]] = error_responses(404)
MetricName = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[a-z0-9_]+$")]
ServiceName = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]


def _metric_out(m: MetricValue) -> MetricOut:
    d = m.definition
    return MetricOut(
        name=d.name, description=d.description, unit=d.unit, value=m.value, timestamp=m.ts
    )


class LatestMetricsJson:
    """The /metrics answer, serialised once per vitals sample (one every sample_interval_s)
    instead of once per request: a sample never changes once taken, and building,
    validating and serialising its models took a third of the request (profiled)."""

    def __init__(self) -> None:
        self._sample: SystemVitals | None = None  # held, so its identity is not reused
        self._custom = -1
        self._body = b""

    def body(self, monitoring: MonitoringService, telemetry: ServiceTelemetry | None) -> bytes:
        vitals = monitoring.vitals()
        custom = -1 if telemetry is None else telemetry.version
        if vitals is not self._sample or custom != self._custom:
            out = MetricsOut(
                timestamp=vitals.ts,
                metrics=[_metric_out(m) for m in monitoring.metrics(vitals)]
                + _custom_metrics(telemetry),
                vitals=VitalsOut.model_validate(vitals),
            )
            self._body, self._sample = out.model_dump_json().encode(), vitals
            self._custom = custom
        return self._body


def _telemetry(request: Request) -> ServiceTelemetry | None:
    tracing: Tracing | None = getattr(request.app.state, "tracing", None)
    return None if tracing is None else tracing.telemetry


def _custom_metrics(telemetry: ServiceTelemetry | None) -> list[MetricOut]:
    """Metrics the appliance's services sent over OTLP (svc_<service>_<metric>)."""
    if telemetry is None:
        return []
    return [
        MetricOut(name=name, description=CUSTOM, unit="", value=value, timestamp=ts)
        for name, (ts, value) in telemetry.latest().items()
    ]


CUSTOM = "A service's own metric, received over OTLP (POST /v1/metrics)."


_LATEST_METRICS = LatestMetricsJson()


@router.get("/metrics", response_model=MetricsOut)
async def metrics(monitoring: MonitoringDep, request: Request) -> Response:
    """Latest sample: every scalar metric plus the full vitals (disks, network, zombies…),
    and the latest value of each metric a service sent over OTLP since the agent started."""
    body = _LATEST_METRICS.body(monitoring, _telemetry(request))
    return Response(body, media_type="application/json")


# Declared before /metrics/{metric_name} so "history" is never taken for a metric name.
@router.get("/metrics/history/{metric_name}", response_model=MetricHistoryOut, responses=_NOT_FOUND)
def metric_history(
    monitoring: MonitoringDep,
    request: Request,
    metric_name: MetricName,
    since: Annotated[float, Query(ge=0, description="Unix time; older samples are left out.")] = 0,
    limit: Annotated[int, Query(ge=1, le=10_000, description="Newest samples returned.")] = 500,
) -> MetricHistoryOut:
    """Stored samples of one metric, oldest first (sync: the store call blocks)."""
    telemetry = _telemetry(request)
    custom = None if telemetry is None else telemetry.history(metric_name, since, limit)
    if custom is not None:
        return MetricHistoryOut(
            name=metric_name,
            unit="",
            description=CUSTOM,
            samples=[SampleOut.model_validate(s) for s in custom],
        )
    definition, samples = monitoring.history(metric_name, since, limit)
    return MetricHistoryOut(
        name=definition.name,
        unit=definition.unit,
        description=definition.description,
        samples=[SampleOut.model_validate(s) for s in samples],
    )


@router.get("/metrics/{metric_name}", response_model=MetricOut, responses=_NOT_FOUND)
async def metric(monitoring: MonitoringDep, request: Request, metric_name: MetricName) -> MetricOut:
    """Latest value of one metric."""
    try:
        return _metric_out(monitoring.metric(metric_name))
    except UnknownMetric:
        for custom in _custom_metrics(_telemetry(request)):
            if custom.name == metric_name:
                return custom
        raise


@router.get("/performance", response_model=PerformanceOut)
async def performance(monitoring: MonitoringDep, runtime: RuntimeDep) -> PerformanceOut:
    """Agent HTTP latency/error statistics and health-check latency per service."""
    total, routes = monitoring.requests.summary()
    return PerformanceOut(
        active_connections=runtime.lifecycle.in_flight,
        requests=LatencyOut.model_validate(total),
        routes={route: LatencyOut.model_validate(s) for route, s in routes.items()},
        services=[
            ServicePerformanceOut.model_validate(p) for p in monitoring.services_performance()
        ],
    )


@router.get(
    "/performance/service/{service_name}",
    response_model=ServicePerformanceOut,
    responses=_NOT_FOUND,
)
async def service_performance(
    monitoring: MonitoringDep, request: Request, service_name: ServiceName
) -> ServicePerformanceOut:
    """Check latency and availability of one service over the kept history; for a service
    known from its spans (OTLP), its request rate, latency and errors over a window."""
    try:
        return ServicePerformanceOut.model_validate(monitoring.service_performance(service_name))
    except UnknownService:
        telemetry = _telemetry(request)
        found = None
        if telemetry is not None:
            found = await run_in_threadpool(telemetry.performance, service_name)
        if found is None:
            raise
        return ServicePerformanceOut.model_validate(found)


@router.get("/infrastructure", response_model=InfrastructureOut)
async def infrastructure(
    runtime: RuntimeDep, infra: InfrastructureDep, monitoring: MonitoringDep
) -> InfrastructureOut:
    """Host identity, agent state and counts of units and containers."""
    host = await run_in_threadpool(infra.host)
    units = await run_in_threadpool(infra.units)
    containers = await run_in_threadpool(infra.containers)
    report = runtime.health.last
    return InfrastructureOut(
        host=HostOut.model_validate(host),
        lifecycle=runtime.lifecycle.state.value,
        agent_uptime_s=round(max(0.0, monitoring.vitals().ts - runtime.lifecycle.started_at), 3),
        vitals_status=monitoring.vitals().status.value,
        health_status=report.status.value if report else "unknown",
        units=UnitCounts(
            available=units.available,
            reason=units.reason,
            total=len(units.units),
            active=sum(1 for u in units.units if u.active == "active"),
            failed=[u.unit for u in units.units if u.active == "failed"],
        ),
        containers=ContainerCounts(
            runtimes=containers.runtimes,
            total=len(containers.containers),
            running=sum(1 for c in containers.containers if c.state == "running"),
        ),
    )


@router.get("/infrastructure/containers", response_model=ContainersOut)
def containers(infra: InfrastructureDep) -> ContainersOut:
    """The appliance's systemd units (with details) and any containers on the host."""
    units = infra.units()
    found = infra.containers()
    return ContainersOut(
        systemd_available=units.available,
        systemd_reason=units.reason,
        units=[UnitOut.model_validate(u) for u in units.units],
        runtimes=found.runtimes,
        containers=[ContainerOut.model_validate(c) for c in found.containers],
        errors=found.errors,
    )
