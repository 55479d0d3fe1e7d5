"""Traces (operator): GET /api/traces, /api/traces/{trace_id}, /api/traces/service/{name}.

The agent's own spans (its requests, database, Vault, notifications, events) and those the
appliance's services send to POST /v1/traces, from the agent's database. Operator, as the
logs: a span's attributes (URLs, statements) are scrubbed, but may hold what the scrubber
does not know.
"""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.concurrency import run_in_threadpool

from api.auth import require
from api.errors import ApiError
from api.schemas.errors import AUTH_ERRORS, error_responses
from api.schemas.traces import SpanOut, TraceOut, TracesOut, TraceSummaryOut
from appliance.security.roles import Role
from appliance.tracing.setup import Tracing
from appliance.tracing.spans import SpanNode, tree
from appliance.tracing.store import CURSOR_PATTERN, TRACE_ID_PATTERN, BadCursor, TraceQuery

router = APIRouter(
    prefix="/api/traces",
    tags=["traces"],
    dependencies=[Depends(require(Role.OPERATOR))],
    responses=AUTH_ERRORS,
)
SERVICE_PATTERN = r"^[A-Za-z0-9_.-]{1,64}$"
MAX_TIME = 4_102_444_800


async def get_tracing(request: Request) -> Tracing:
    tracing: Tracing | None = getattr(request.app.state, "tracing", None)
    if tracing is None:
        raise ApiError(503, "traces need the agent's database, which is not open")
    return tracing


TracingDep = Annotated[Tracing, Depends(get_tracing)]


async def trace_query(
    service: Annotated[
        str | None, Query(pattern=SERVICE_PATTERN, description="Traces with a span of it.")
    ] = None,
    since: Annotated[float | None, Query(ge=0, le=MAX_TIME, description="Unix time.")] = None,
    until: Annotated[
        float | None, Query(ge=0, le=MAX_TIME, description="Unix time, exclusive.")
    ] = None,
    min_duration_ms: Annotated[float | None, Query(ge=0, le=86_400_000)] = None,
    status: Annotated[Literal["ok", "error"] | None, Query()] = None,
    cursor: Annotated[
        str | None, Query(pattern=CURSOR_PATTERN, description="next_cursor of the last page.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> TraceQuery:
    return TraceQuery(service, since, until, min_duration_ms, status, cursor, limit)


QueryDep = Annotated[TraceQuery, Depends(trace_query)]


def _page(tracing: Tracing, query: TraceQuery) -> TracesOut:
    try:
        page = tracing.spans.traces(query)
    except BadCursor as exc:
        raise ApiError(422, str(exc)) from exc
    return TracesOut(
        traces=[TraceSummaryOut(**{**asdict(t), "start": t.start_s}) for t in page.traces],
        next_cursor=page.next_cursor,
    )


def _span_out(node: SpanNode) -> SpanOut:
    s = node.span
    attributes: dict[str, Any] = json.loads(s.attributes)
    events: list[dict[str, Any]] = json.loads(s.events)
    return SpanOut(
        span_id=s.span_id, parent_id=s.parent_id, service=s.service, name=s.name, kind=s.kind,
        start=s.start_s, duration_ms=round(s.duration_ms, 3), error=s.error,
        status_message=s.status_message, attributes=attributes, events=events,
        children=[_span_out(c) for c in node.children],
    )  # fmt: skip


@router.get("", response_model=TracesOut)
async def traces(tracing: TracingDep, query: QueryDep) -> TracesOut:
    """Recent traces, newest first, filtered by service, time, duration and status."""
    return await run_in_threadpool(_page, tracing, query)


@router.get("/service/{service_name}", response_model=TracesOut)
async def by_service(
    tracing: TracingDep,
    query: QueryDep,
    service_name: Annotated[str, Path(pattern=SERVICE_PATTERN)],
) -> TracesOut:
    """Recent traces with a span of this service (``sovereign-agent``: the agent's own)."""
    return await run_in_threadpool(_page, tracing, replace(query, service=service_name))


@router.get("/{trace_id}", response_model=TraceOut, responses=error_responses(404))
async def trace(
    tracing: TracingDep, trace_id: Annotated[str, Path(pattern=TRACE_ID_PATTERN)]
) -> TraceOut:
    """One trace's spans as a tree."""
    spans = await run_in_threadpool(tracing.spans.trace, trace_id)
    if not spans:
        raise ApiError(404, f"no trace {trace_id} is stored")
    start = min(s.start_s for s in spans)
    end = max(s.end_s for s in spans)
    return TraceOut(
        trace_id=trace_id,
        spans=len(spans),
        duration_ms=round((end - start) * 1000, 3),
        roots=[_span_out(n) for n in tree(spans)],
    )
