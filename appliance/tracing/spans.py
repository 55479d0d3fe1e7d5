"""Spans as the agent stores and serves them (pure): made from the SDK's finished spans and
from OTLP's protobuf spans, and put back together as trees."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span as ProtoSpan
from opentelemetry.proto.trace.v1.trace_pb2 import Status as ProtoStatus
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind, StatusCode

from appliance.logs.scrub import scrub

#: A stored span's attributes and events, as JSON, are cut to this many characters.
MAX_JSON = 4096
MAX_NAME = 200
SERVER_KINDS = frozenset({"server", "consumer"})
_KINDS = {
    ProtoSpan.SPAN_KIND_INTERNAL: "internal",
    ProtoSpan.SPAN_KIND_SERVER: "server",
    ProtoSpan.SPAN_KIND_CLIENT: "client",
    ProtoSpan.SPAN_KIND_PRODUCER: "producer",
    ProtoSpan.SPAN_KIND_CONSUMER: "consumer",
}


@dataclass(frozen=True, slots=True)
class SpanRow:
    trace_id: str
    span_id: str
    parent_id: str | None
    service: str
    name: str
    kind: str
    start_s: float
    end_s: float
    error: bool
    status_message: str
    attributes: str
    events: str

    @property
    def duration_ms(self) -> float:
        return max(0.0, (self.end_s - self.start_s) * 1000)


@dataclass
class SpanNode:
    span: SpanRow
    children: list[SpanNode] = field(default_factory=list)


#: Attribute values repeat (a route, a method, the same statement text each request): each is
#: scrubbed once, not once per span. Statements are often longer than SHORT (the audit append
#: is ~1.3 KiB) and scrubbing one costs milliseconds, in the exporter's thread, which holds the
#: interpreter lock meanwhile and so delays requests: those have a smaller cache of their own.
#: Anything longer (a body, a stack) is rarely repeated: scrubbed every time, not kept.
SHORT = 1024
LONG = 16 * 1024
_scrub_short = lru_cache(maxsize=4096)(scrub)
_scrub_long = lru_cache(maxsize=256)(scrub)  # at most 4 MiB of keys


def _value(value: Any) -> Any:
    if isinstance(value, str):
        if len(value) <= SHORT:
            return _scrub_short(value)
        return _scrub_long(value) if len(value) <= LONG else scrub(value)
    if isinstance(value, (list, tuple)):
        return [_value(v) for v in value]
    return value


def _json(data: dict[str, Any] | list[Any]) -> str:
    """As JSON, at most MAX_JSON characters: a longer one keeps its kind (object or list)
    with its text cut, under ``truncated``."""
    text = json.dumps(data, default=str, separators=(",", ":"))
    if len(text) <= MAX_JSON:
        return text
    cut = {"truncated": text[: MAX_JSON - 40]}
    return json.dumps(cut if isinstance(data, dict) else [cut])


def _scrubbed(attributes: Mapping[str, Any] | None) -> dict[str, Any]:
    return {k: _value(v) for k, v in (attributes or {}).items()}


def attributes_json(attributes: Mapping[str, Any] | None) -> str:
    return _json(_scrubbed(attributes))


def from_sdk(span: ReadableSpan, service: str) -> SpanRow | None:
    """One of the agent's finished spans; None for a span without its context or times."""
    context = span.context
    if context is None or span.start_time is None or span.end_time is None:
        return None
    parent = span.parent
    events = [
        {"name": e.name, "ts": e.timestamp / 1e9, "attributes": _scrubbed(e.attributes)}
        for e in span.events
    ]
    return SpanRow(
        trace_id=format(context.trace_id, "032x"),
        span_id=format(context.span_id, "016x"),
        parent_id=format(parent.span_id, "016x") if parent is not None else None,
        service=service,
        name=span.name[:MAX_NAME],
        kind=span.kind.name.lower() if isinstance(span.kind, SpanKind) else "internal",
        start_s=span.start_time / 1e9,
        end_s=span.end_time / 1e9,
        error=span.status.status_code is StatusCode.ERROR,
        status_message=_value(span.status.description or "")[:500],
        attributes=attributes_json(span.attributes),
        events=_json(events),
    )


def any_value(value: AnyValue) -> Any:
    """OTLP's AnyValue as plain JSON data."""
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [any_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return key_values(value.kvlist_value.values)
    if kind == "bytes_value":
        return value.bytes_value.hex()
    return getattr(value, kind) if kind else None


def key_values(items: Iterable[KeyValue]) -> dict[str, Any]:
    return {kv.key: any_value(kv.value) for kv in items}


def from_proto(span: ProtoSpan, service: str) -> SpanRow:
    """A span another service sent (its ids are checked by the caller: 16 and 8 bytes)."""
    events = [
        {
            "name": e.name,
            "ts": e.time_unix_nano / 1e9,
            "attributes": _scrubbed(key_values(e.attributes)),
        }
        for e in span.events
    ]
    return SpanRow(
        trace_id=span.trace_id.hex(),
        span_id=span.span_id.hex(),
        parent_id=span.parent_span_id.hex() or None,
        service=service,
        name=span.name[:MAX_NAME],
        kind=_KINDS.get(span.kind, "internal"),
        start_s=span.start_time_unix_nano / 1e9,
        end_s=max(span.end_time_unix_nano, span.start_time_unix_nano) / 1e9,
        error=span.status.code == ProtoStatus.STATUS_CODE_ERROR,
        status_message=scrub(span.status.message)[:500],
        attributes=attributes_json(key_values(span.attributes)),
        events=_json(events),
    )


def tree(spans: Sequence[SpanRow]) -> list[SpanNode]:
    """The spans of one trace as trees, by start time; a span whose parent is not among them
    (not sampled, not received yet, pruned) is a root of its own."""
    nodes = {s.span_id: SpanNode(s) for s in sorted(spans, key=lambda s: s.start_s)}
    roots: list[SpanNode] = []
    for node in nodes.values():
        parent = nodes.get(node.span.parent_id or "")
        if parent is None or parent is node:
            roots.append(node)
        else:
            parent.children.append(node)
    return roots
