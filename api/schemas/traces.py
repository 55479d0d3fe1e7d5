"""Bodies of the trace endpoints and the OTLP receiver."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class TraceSummaryOut(BaseModel):
    trace_id: str = Field(description="32 hex digits; GET /api/traces/{trace_id} for its spans.")
    start: float = Field(description="Unix time its first span started.")
    duration_ms: float = Field(description="From its first span's start to its last span's end.")
    spans: int = Field(description="Spans stored for it.")
    error: bool = Field(description="Whether any of its spans has the status ERROR.")
    root: str = Field(description="`service: name` of its root span (empty: not stored).")
    services: list[str] = Field(description="The services its spans came from.")


class TracesOut(BaseModel):
    traces: list[TraceSummaryOut] = Field(description="Newest first.")
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the older traces that follow; null at the end."
    )


class SpanOut(BaseModel):
    span_id: str
    parent_id: str | None = Field(description="Null for a root span.")
    service: str = Field(description="The resource's service.name.")
    name: str
    kind: str = Field(description="internal, server, client, producer or consumer.")
    start: float = Field(description="Unix time.")
    duration_ms: float
    error: bool
    status_message: str
    attributes: dict[str, Any] = Field(description="Scrubbed of secrets and personal data.")
    events: list[dict[str, Any]]
    children: list[SpanOut] = Field(description="Spans whose parent this is, by start time.")


class TraceOut(BaseModel):
    trace_id: str
    spans: int = Field(description="Spans in the tree.")
    duration_ms: float
    roots: list[SpanOut] = Field(
        description="The span tree; more than one root when a parent was not stored (not "
        "sampled, not received yet, or pruned)."
    )
