"""``[tracing]`` of agent.toml: the agent's own spans, where they go, and the OTLP receiver."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, HttpUrl


class TracingSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(
        default=True,
        description="Trace the agent's requests, database, Vault and notification calls.",
    )
    sample_ratio: float = Field(
        default=0.1,
        ge=0,
        le=1,
        description="Share of traces started by the agent that are kept (a request carrying a "
        "sampled traceparent is always kept). Each kept request costs its spans' recording and "
        "writing: at 1.0 a traced read's p50 grew ~30 %, at 0.1 ~9 % (bench/tracing.py).",
    )
    service_name: str = Field(default="sovereign-agent", min_length=1, max_length=64)
    retention_s: float = Field(
        default=7 * 86400.0, gt=0, description="Spans older than this are pruned."
    )
    max_spans: int = Field(
        default=200_000, ge=1000, description="At most this many spans kept (oldest pruned)."
    )
    prune_interval_s: float = Field(default=300.0, gt=0, le=86400)
    batch_delay_s: float = Field(
        default=2.0, gt=0, le=60, description="Spans are written in batches this often."
    )
    otlp_endpoint: HttpUrl | None = Field(
        default=None,
        description="Also send the agent's spans to this OTLP/HTTP collector "
        "(e.g. https://collector:4318/v1/traces); unset: only the agent's database.",
    )
    receiver_enabled: bool = Field(
        default=True, description="Accept OTLP/HTTP from the appliance's services (/v1/*)."
    )
    max_spans_per_request: int = Field(default=5000, ge=1, le=100_000)
    max_points_per_request: int = Field(default=5000, ge=1, le=100_000)
    max_decoded_bytes: int = Field(
        default=4 << 20,
        ge=1024,
        description="The most an OTLP request's body may be, and decompress to (gzip): a "
        "whole exporter batch, uncompressed by default (other routes: [security] "
        "max_body_bytes).",
    )
    performance_window_s: float = Field(
        default=300.0, gt=0, le=86400, description="Window of a service's span statistics."
    )
