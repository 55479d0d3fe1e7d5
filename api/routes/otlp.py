"""The OTLP/HTTP receiver: POST /v1/traces and /v1/metrics from the appliance's services.

Protobuf or JSON bodies (gzip allowed), as OTLP/HTTP's exporters send them, with a token of
the operator role (``Authorization: Bearer …``; OTEL_EXPORTER_OTLP_HEADERS on the service's
side). Spans land in the agent's span store by ``service.name`` (/api/traces/service/NAME,
/api/monitoring/performance/service/NAME); metrics in the metrics history as
``svc_<service>_<metric>``.

Audit: an exporter posts every few seconds, so one record per call would bury the trail. A
token's first successful export of each kind is recorded, then at most one an hour (with the
counts of that call); every refused or failed call is recorded as usual.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import APIRouter, Depends, Request, Response
from fastapi.concurrency import run_in_threadpool
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from api.audit import audit_as, audit_written
from api.auth import require
from api.errors import ApiError
from api.routes.traces import TracingDep
from api.schemas.errors import AUTH_ERRORS, ErrorOut, error_responses
from appliance.security.roles import Role
from appliance.tracing.otlp import PROTOBUF, Limits, OtlpError, decode_metrics, decode_traces
from appliance.tracing.setup import Tracing

router = APIRouter(
    prefix="/v1",
    tags=["otlp"],
    dependencies=[Depends(require(Role.OPERATOR))],
    responses={
        **AUTH_ERRORS,
        **error_responses(404),
        415: {"model": ErrorOut, "description": "Not protobuf or JSON; not gzip or identity."},
    },
)
AUDIT_EVERY_S = 3600.0
_audited_lock = threading.Lock()


def _audit(request: Request, signal: str, **counts: Any) -> None:
    principal = getattr(request.state, "principal", None)
    key = (principal.name if principal is not None else "", signal)
    now = time.monotonic()
    with _audited_lock:  # when each token's export was last recorded, kept by the app
        audited: dict[tuple[str, str], float] | None = getattr(request.app.state, "otlp", None)
        if audited is None:
            audited = request.app.state.otlp = {}
        due = key not in audited or now - audited[key] >= AUDIT_EVERY_S
        if due:
            audited[key] = now
    if due:
        audit_as(request, f"otlp.{signal}", key[0], **counts)
    else:
        audit_written(request)  # recorded within the hour: no record for this one


def _answer(request: Request, message: Any) -> Response:
    if (request.headers.get("content-type") or "").startswith(PROTOBUF):
        return Response(message.SerializeToString(), media_type=PROTOBUF)
    return Response(b"{}", media_type="application/json")


def _open(tracing: Tracing) -> Tracing:
    if not tracing.settings.receiver_enabled:
        raise ApiError(404, "the OTLP receiver is turned off ([tracing] receiver_enabled)")
    return tracing


T = TypeVar("T")


async def _decoded(
    request: Request,
    decode: Callable[[bytes, str | None, str | None, Limits], list[T]],
    max_items: int,
    tracing: Tracing,
) -> list[T]:
    """The request's body decoded by ``decode`` within the receiver's bounds (4xx otherwise)."""
    settings = _open(tracing).settings
    body = await request.body()
    headers = request.headers
    try:
        return await run_in_threadpool(
            decode,
            body,
            headers.get("content-type"),
            headers.get("content-encoding"),
            Limits(settings.max_decoded_bytes, max_items),
        )
    except OtlpError as exc:
        raise ApiError(exc.status, str(exc)) from exc


@router.post("/traces", status_code=200)
async def traces(request: Request, tracing: TracingDep) -> Response:
    """An ExportTraceServiceRequest: its spans stored (a span sent again is kept once)."""
    rows = await _decoded(request, decode_traces, tracing.settings.max_spans_per_request, tracing)
    await run_in_threadpool(tracing.spans.write, rows)
    _audit(request, "traces", spans=len(rows), services=sorted({r.service for r in rows}))
    return _answer(request, ExportTraceServiceResponse())


@router.post("/metrics", status_code=200)
async def metrics(request: Request, tracing: TracingDep) -> Response:
    """An ExportMetricsServiceRequest: one sample per metric in the metrics history."""
    points = await _decoded(
        request, decode_metrics, tracing.settings.max_points_per_request, tracing
    )
    await run_in_threadpool(tracing.telemetry.add_metrics, points)
    _audit(request, "metrics", samples=len(points))
    return _answer(request, ExportMetricsServiceResponse())
