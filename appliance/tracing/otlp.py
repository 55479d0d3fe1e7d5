"""OTLP/HTTP request bodies (pure): protobuf or JSON, gzip or not, decoded within bounds into
the spans and metric samples the agent stores. Each refusal says why, with its HTTP status."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from google.protobuf import json_format  # type: ignore[import-untyped]
from google.protobuf.message import DecodeError, Message  # type: ignore[import-untyped]
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from opentelemetry.proto.metrics.v1.metrics_pb2 import Metric, NumberDataPoint

from appliance.tracing.spans import SpanRow, any_value, from_proto

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
UNKNOWN_SERVICE = "unknown_service"
METRIC_PREFIX = "svc_"
MAX_METRIC_NAME = 64
_ID_FIELDS = frozenset(
    {"traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id"}
)
M = TypeVar("M", bound=Message)


class OtlpError(ValueError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class Limits:
    max_decoded_bytes: int
    max_items: int


@dataclass(frozen=True, slots=True)
class MetricPoint:
    name: str
    ts: float
    value: float


def media_type(content_type: str | None) -> str:
    kind = (content_type or "").split(";")[0].strip().lower()
    if kind not in (PROTOBUF, JSON):
        raise OtlpError(415, f"Content-Type must be {PROTOBUF} or {JSON}")
    return kind


def inflate(body: bytes, encoding: str | None, limit: int) -> bytes:
    """The body as sent (``identity``) or gunzipped, at most ``limit`` bytes either way."""
    encoding = (encoding or "identity").strip().lower()
    if encoding == "identity":
        data = body
    elif encoding == "gzip":
        try:
            inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
            data = inflater.decompress(body, limit + 1)
        except zlib.error as exc:
            raise OtlpError(400, f"body is not valid gzip: {exc}") from None
    else:
        raise OtlpError(415, "Content-Encoding must be gzip or identity")
    if len(data) > limit:
        raise OtlpError(413, f"body decompresses to over {limit} bytes")
    return data


def _hex_ids_to_base64(node: Any) -> Any:
    """OTLP/JSON writes ids as hex, protobuf's JSON mapping reads bytes as base64."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key in _ID_FIELDS and isinstance(value, str):
                try:
                    value = base64.b64encode(bytes.fromhex(value)).decode()
                except ValueError:
                    raise OtlpError(400, f"{key}: not a hex string") from None
            out[key] = _hex_ids_to_base64(value)
        return out
    if isinstance(node, list):
        return [_hex_ids_to_base64(v) for v in node]
    return node


def parse(data: bytes, kind: str, message: M) -> M:
    try:
        if kind == PROTOBUF:
            message.ParseFromString(data)
        else:
            json_format.ParseDict(
                _hex_ids_to_base64(json.loads(data)), message, ignore_unknown_fields=True
            )
    except (DecodeError, json_format.ParseError, ValueError, TypeError, RecursionError) as exc:
        if isinstance(exc, OtlpError):
            raise
        raise OtlpError(400, f"not an OTLP request: {str(exc)[:200]}") from None
    return message


def service_of(attributes: Iterable[KeyValue]) -> str:
    """``service.name`` of a resource, made safe as a name (letters, digits, ``_.-``)."""
    for kv in attributes:
        if kv.key == "service.name":
            name = str(any_value(kv.value) or "")
            cleaned = re.sub(r"[^A-Za-z0-9_.-]+", "_", name)[:64]
            return cleaned or UNKNOWN_SERVICE
    return UNKNOWN_SERVICE


def decode_traces(
    body: bytes, content_type: str | None, encoding: str | None, limits: Limits
) -> list[SpanRow]:
    kind = media_type(content_type)
    request = parse(
        inflate(body, encoding, limits.max_decoded_bytes), kind, ExportTraceServiceRequest()
    )
    count = sum(len(s.spans) for r in request.resource_spans for s in r.scope_spans)
    if count > limits.max_items:
        raise OtlpError(413, f"{count} spans in one request; at most {limits.max_items}")
    rows = []
    for resource_spans in request.resource_spans:
        service = service_of(resource_spans.resource.attributes)
        for scope in resource_spans.scope_spans:
            for span in scope.spans:
                if len(span.trace_id) != 16 or not any(span.trace_id):
                    raise OtlpError(400, f"span {span.name!r}: trace id must be 16 bytes, not zero")
                if len(span.span_id) != 8 or not any(span.span_id):
                    raise OtlpError(400, f"span {span.name!r}: span id must be 8 bytes, not zero")
                if span.parent_span_id and len(span.parent_span_id) != 8:
                    raise OtlpError(400, f"span {span.name!r}: parent span id must be 8 bytes")
                rows.append(from_proto(span, service))
    return rows


def metric_name(service: str, name: str) -> str:
    """``svc_<service>_<metric>``, lower case, letters, digits and ``_`` (the API's metric
    names), so a service's metric never takes a built-in's name; a long one is cut and
    given a hash of the whole so two long names stay apart."""
    full = METRIC_PREFIX + re.sub(r"[^a-z0-9]+", "_", f"{service}_{name}".lower()).strip("_")
    if len(full) <= MAX_METRIC_NAME:
        return full
    digest = hashlib.sha256(full.encode()).hexdigest()[:8]
    return f"{full[: MAX_METRIC_NAME - 9]}_{digest}"


def _number(point: NumberDataPoint) -> float:
    return float(point.as_double if point.WhichOneof("value") == "as_double" else point.as_int)


def _points(metric: Metric, name: str) -> list[MetricPoint]:
    """One sample per metric (and per _count/_sum of a distribution): a gauge's last point,
    a sum's total over its attribute sets, a histogram's or summary's count and sum."""
    kind = metric.WhichOneof("data")
    if kind in ("gauge", "sum"):
        points = list(getattr(metric, kind).data_points)
        if not points:
            return []
        ts = max(p.time_unix_nano for p in points) / 1e9
        value = _number(points[-1]) if kind == "gauge" else sum(_number(p) for p in points)
        return [MetricPoint(name, ts, value)]
    if kind in ("histogram", "exponential_histogram", "summary"):
        dist = list(getattr(metric, kind).data_points)
        if not dist:
            return []
        ts = max(p.time_unix_nano for p in dist) / 1e9
        return [
            MetricPoint(
                name[: MAX_METRIC_NAME - 6] + "_count", ts, float(sum(p.count for p in dist))
            ),
            MetricPoint(name[: MAX_METRIC_NAME - 4] + "_sum", ts, float(sum(p.sum for p in dist))),
        ]
    return []


def decode_metrics(
    body: bytes, content_type: str | None, encoding: str | None, limits: Limits
) -> list[MetricPoint]:
    kind = media_type(content_type)
    request = parse(
        inflate(body, encoding, limits.max_decoded_bytes), kind, ExportMetricsServiceRequest()
    )
    count = sum(len(s.metrics) for r in request.resource_metrics for s in r.scope_metrics)
    if count > limits.max_items:
        raise OtlpError(413, f"{count} metrics in one request; at most {limits.max_items}")
    out: list[MetricPoint] = []
    for resource_metrics in request.resource_metrics:
        service = service_of(resource_metrics.resource.attributes)
        for scope in resource_metrics.scope_metrics:
            for metric in scope.metrics:
                if not metric.name:
                    raise OtlpError(400, "a metric without a name")
                out.extend(_points(metric, metric_name(service, metric.name)))
    return out
