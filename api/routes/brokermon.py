"""The broker monitors: ``GET /api/monitoring/latency`` (the end-to-end probe's percentiles)
and ``GET /api/monitoring/kafka`` (the Kafka monitor's last sample). Reads of what the
monitors hold in memory: neither touches the broker nor the database."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from api.auth import require
from api.deps import RuntimeDep
from api.schemas.errors import AUTH_ERRORS, error_responses
from appliance.errors import NotFoundError, NotYetAvailable
from appliance.security.roles import Role

router = APIRouter(
    prefix="/api/monitoring",
    tags=["monitoring"],
    dependencies=[Depends(require(Role.VIEWER))],
    responses=AUTH_ERRORS,
)

_RESPONSES: dict[int | str, dict[str, Any]] = error_responses(404, 503)


class E2ELatencyOut(BaseModel):
    """Probe event published on the bus → committed to the agent's database, in ms. A probe
    not committed yet counts with its age so far (a lower bound)."""

    window_s: float = Field(description="The figures are over this many seconds.")
    interval_s: float = Field(description="A probe is published this often.")
    threshold_ms: float = Field(description="E2ELatencyHigh fires when p99 is above.")
    above_threshold: bool
    count: int = Field(description="Probes committed within the window.")
    pending: int = Field(description="Probes published and not committed yet.")
    lost: int = Field(description="Probes given up on since start (pending a whole window).")
    avg_ms: float | None = Field(description="get_average_latency(); null: nothing yet.")
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    oldest_pending_ms: float | None
    last_ms: float | None = Field(description="The latest committed probe's latency.")
    last_committed_at: float | None = Field(description="Unix time of that commit.")


class GroupLagOut(BaseModel):
    group: str
    topic: str
    lag: int = Field(description="Messages behind, over the topic's partitions.")
    partitions: int
    uncommitted: int = Field(description="Partitions with no committed offset (from the start).")


class KafkaOut(BaseModel):
    sampled_at: float = Field(description="Unix time of the sample (every interval_s).")
    interval_s: float
    reachable: bool
    error: str | None
    duration_ms: float = Field(description="How long the sample took.")
    brokers: int
    topics: dict[str, int] = Field(description="Topic → partitions.")
    partitions: int
    lag_threshold: float = Field(description="KafkaConsumerLag fires beyond (for 2 minutes).")
    lag: list[GroupLagOut]
    group_errors: dict[str, str] = Field(description="Groups whose offsets were not read.")


@router.get("/latency", response_model=E2ELatencyOut, responses=_RESPONSES)
async def latency(runtime: RuntimeDep) -> E2ELatencyOut:
    """The end-to-end latency monitor: event ingest → PostgreSQL commit percentiles."""
    monitor = runtime.monitors.latency if runtime.monitors is not None else None
    if monitor is None:
        raise NotFoundError("no latency monitor: it needs [events] and the agent's database")
    st = monitor.stats()
    threshold = monitor.settings.threshold_ms
    return E2ELatencyOut(
        window_s=st.window_s,
        interval_s=monitor.settings.interval_s,
        threshold_ms=threshold,
        above_threshold=st.p99_ms is not None and st.p99_ms > threshold,
        count=st.count,
        pending=st.pending,
        lost=st.lost,
        avg_ms=st.avg_ms,
        p50_ms=st.p50_ms,
        p95_ms=st.p95_ms,
        p99_ms=st.p99_ms,
        max_ms=st.max_ms,
        oldest_pending_ms=st.oldest_pending_ms,
        last_ms=st.last_ms,
        last_committed_at=st.last_committed_at,
    )


@router.get("/kafka", response_model=KafkaOut, responses=_RESPONSES)
async def kafka(runtime: RuntimeDep) -> KafkaOut:
    """The Kafka monitor's last sample: reachability, topics, consumer-group lag."""
    monitor = runtime.monitors.kafka if runtime.monitors is not None else None
    if monitor is None:
        raise NotFoundError("no Kafka monitor: it needs [events]")
    s = monitor.last
    if s is None:
        raise NotYetAvailable("the broker has not been sampled yet")
    return KafkaOut(
        sampled_at=s.sampled_at,
        interval_s=monitor.settings.interval_s,
        reachable=s.reachable,
        error=s.error,
        duration_ms=s.duration_ms,
        brokers=s.brokers,
        topics=s.topics,
        partitions=s.partitions,
        lag_threshold=monitor.settings.lag_threshold,
        lag=[
            GroupLagOut(
                group=g.group,
                topic=g.topic,
                lag=g.lag,
                partitions=g.partitions,
                uncommitted=g.uncommitted,
            )
            for g in s.lags
        ],
        group_errors=s.group_errors,
    )
