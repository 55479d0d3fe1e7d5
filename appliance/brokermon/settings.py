"""``[brokermon]`` of agent.toml: the Kafka monitor (``[brokermon.kafka]``) and the end-to-end
latency monitor (``[brokermon.latency]``). Both need the event bus (``[events]``); the latency
monitor also the agent's database, where its probes are committed."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class KafkaMonitorSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(default=True, description="Sample the broker (needs [events]).")
    interval_s: float = Field(
        default=30.0, gt=0, le=3600, description="The broker is read this often, not per request."
    )
    timeout_s: float = Field(default=5.0, gt=0, le=120, description="Per admin request.")
    lag_threshold: float = Field(
        default=1000.0,
        ge=0,
        description="The built-in KafkaConsumerLag alert fires when a group is more than this "
        "many messages behind on a topic for 2 minutes.",
    )
    confirm_end_offsets: bool = Field(
        default=True,
        description="Read each partition's end offset from a fetch's high watermark as well as "
        "from ListOffsets: Tansu 0.6 answers ListOffsets(latest) with its last batch's base "
        "offset + 1, short of the end by the batch's other records.",
    )
    max_partitions: int = Field(
        default=1000, ge=1, le=100_000, description="Partitions read per sample at most."
    )
    groups: list[str] = Field(
        default_factory=list,
        description="Consumer groups whose lag is reported; empty: every group the broker lists.",
    )


class LatencyMonitorSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(
        default=True, description="Publish probes (needs [events] and a database)."
    )
    interval_s: float = Field(
        default=5.0, gt=0, le=3600, description="A probe event is published this often."
    )
    topic: str = Field(default="sovereign.latency-probe", min_length=1, max_length=249)
    group_id: str = Field(
        default="sovereign-latency-probe",
        min_length=1,
        description="The probes' consumer group (its own: other handlers never delay it).",
    )
    window_s: float = Field(
        default=300.0, gt=0, le=86_400, description="Percentiles are over this window."
    )
    threshold_ms: float = Field(
        default=200.0, gt=0, description="The built-in E2ELatencyHigh alert: p99 above this."
    )
    commit_timeout_s: float = Field(
        default=30.0,
        gt=0,
        le=3600,
        description="A probe's insert gives up after this (PostgreSQL statement_timeout); the "
        "event bus then retries it.",
    )
    retention_s: float = Field(
        default=86_400.0, gt=0, description="Probe rows older than this are deleted."
    )
    max_rows: int = Field(default=50_000, ge=10, description="Probe rows kept at most.")
    prune_every_s: float = Field(default=300.0, gt=0, le=86_400)


class BrokerMonitorSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kafka: KafkaMonitorSettings = Field(default_factory=KafkaMonitorSettings)
    latency: LatencyMonitorSettings = Field(default_factory=LatencyMonitorSettings)
