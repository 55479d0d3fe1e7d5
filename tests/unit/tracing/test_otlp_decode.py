"""OTLP/HTTP bodies as a service's SDK encodes them: protobuf, JSON (ids in hex, as the
OTLP/JSON mapping writes them), gzip; each bound and each malformed input refused with the
status OTLP/HTTP clients expect."""

from __future__ import annotations

import base64
import gzip
import json

import pytest
from google.protobuf import json_format  # type: ignore[import-untyped]
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from appliance.tracing.otlp import (
    JSON,
    PROTOBUF,
    Limits,
    OtlpError,
    decode_metrics,
    decode_traces,
    metric_name,
)
from tests.unit.tracing.otel import metrics_body, service_spans, traces_body

LIMITS = Limits(max_decoded_bytes=1 << 20, max_items=100)


def as_otlp_json(body: bytes) -> bytes:
    """OTLP/JSON: protobuf's JSON mapping, but trace and span ids in hex, not base64."""
    request = ExportTraceServiceRequest()
    request.ParseFromString(body)
    data = json_format.MessageToDict(request)
    for resource in data["resourceSpans"]:
        for scope in resource["scopeSpans"]:
            for span in scope["spans"]:
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in span:
                        span[key] = request_bytes_hex(span[key])
    return json.dumps(data).encode()


def request_bytes_hex(b64: str) -> str:
    return base64.b64decode(b64).hex()


def test_protobuf_spans_keep_their_ids_service_parents_and_status() -> None:
    recorded = service_spans("data-processing", 2, errors=1)
    rows = decode_traces(traces_body("data-processing", 2, errors=1), PROTOBUF, None, LIMITS)
    assert len(rows) == len(recorded) == 4
    assert {r.service for r in rows} == {"data-processing"}
    servers = [r for r in rows if r.kind == "server"]
    children = [r for r in rows if r.kind == "internal"]
    assert len(servers) == 2 and all(r.parent_id is None for r in servers)
    assert {c.parent_id for c in children} == {s.span_id for s in servers}
    assert [s.error for s in servers].count(True) == 1
    assert all(len(r.trace_id) == 32 and len(r.span_id) == 16 for r in rows)
    assert json.loads(servers[0].attributes)["http.route"] == "/process"


def test_json_and_gzip_decode_to_the_same_spans() -> None:
    body = traces_body("data-processing", 3)
    from_protobuf = decode_traces(body, PROTOBUF, None, LIMITS)
    from_json = decode_traces(as_otlp_json(body), JSON, None, LIMITS)
    gzipped = decode_traces(gzip.compress(body), f"{PROTOBUF}; charset=x", "gzip", LIMITS)
    key = lambda r: (r.trace_id, r.span_id)  # noqa: E731
    assert sorted(from_json, key=key) == sorted(from_protobuf, key=key)
    assert sorted(gzipped, key=key) == sorted(from_protobuf, key=key)


@pytest.mark.parametrize(
    ("body", "content_type", "encoding", "status"),
    [
        (b"\x0a\x05junk", PROTOBUF, None, 400),
        (b"{not json", JSON, None, 400),
        (b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "zz"}]}]}]}', JSON, None, 400),
        (b"", "text/plain", None, 415),
        (b"", PROTOBUF, "br", 415),
        (b"not gzip", PROTOBUF, "gzip", 400),
    ],
)
def test_malformed_bodies_are_refused(
    body: bytes, content_type: str, encoding: str | None, status: int
) -> None:
    with pytest.raises(OtlpError) as caught:
        decode_traces(body, content_type, encoding, LIMITS)
    assert caught.value.status == status


def test_a_span_with_a_bad_id_is_refused() -> None:
    request = ExportTraceServiceRequest()
    request.ParseFromString(traces_body("svc", 1))
    request.resource_spans[0].scope_spans[0].spans[0].trace_id = b"\x00" * 16
    with pytest.raises(OtlpError, match="trace id") as caught:
        decode_traces(request.SerializeToString(), PROTOBUF, None, LIMITS)
    assert caught.value.status == 400


def test_bounds_on_spans_and_on_what_gzip_inflates_to() -> None:
    body = traces_body("svc", 60)  # 120 spans
    with pytest.raises(OtlpError, match="120 spans") as caught:
        decode_traces(body, PROTOBUF, None, LIMITS)
    assert caught.value.status == 413
    bomb = gzip.compress(b"\0" * (2 << 20))
    with pytest.raises(OtlpError, match="decompresses") as caught:
        decode_traces(bomb, PROTOBUF, "gzip", LIMITS)
    assert caught.value.status == 413


def test_metrics_are_namespaced_by_service_one_sample_each() -> None:
    points = decode_metrics(metrics_body("data-processing", 7, 3.5), PROTOBUF, None, LIMITS)
    values = {p.name: p.value for p in points}
    assert values == {
        "svc_data_processing_orders_processed": 7.0,  # the sum over its attribute sets
        "svc_data_processing_queue_depth": 3.5,
        "svc_data_processing_batch_seconds_count": 1.0,
        "svc_data_processing_batch_seconds_sum": 0.25,
    }
    assert all(p.ts > 1_700_000_000 for p in points)


def test_metric_names_cannot_take_a_builtins_name_and_long_ones_stay_apart() -> None:
    assert metric_name("x", "cpu_percent") == "svc_x_cpu_percent"
    a, b = metric_name("s", "a" * 80 + "1"), metric_name("s", "a" * 80 + "2")
    assert len(a) == len(b) == 64 and a != b
    assert metric_name("Billing API", "Invoices/Paid") == "svc_billing_api_invoices_paid"
