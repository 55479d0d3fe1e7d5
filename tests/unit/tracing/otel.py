"""Real OpenTelemetry SDK spans and metrics of a made-up service, encoded as its OTLP/HTTP
exporter sends them (the exporter's own encoders), for the receiver's tests."""

from __future__ import annotations

import time

from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode


def service_spans(
    service: str, requests: int, errors: int = 0, sleep_s: float = 0.0
) -> list[ReadableSpan]:
    """``requests`` server spans of ``service`` (the last ``errors`` of them failed), each
    with a child span, recorded by the SDK."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("tests")
    for i in range(requests):
        with tracer.start_as_current_span("POST /process", kind=SpanKind.SERVER) as span:
            span.set_attribute("http.route", "/process")
            with tracer.start_as_current_span("transform"):
                time.sleep(sleep_s)
            if i >= requests - errors:
                span.set_status(StatusCode.ERROR, "boom")
    provider.shutdown()
    return list(memory.get_finished_spans())


def traces_body(service: str, requests: int, errors: int = 0, sleep_s: float = 0.0) -> bytes:
    return bytes(
        encode_spans(service_spans(service, requests, errors, sleep_s)).SerializeToString()
    )


def metrics_body(service: str, orders: int, queue: float) -> bytes:
    """A counter and a gauge of ``service``, read once by the SDK."""
    reader = InMemoryMetricReader()
    provider = MeterProvider(
        resource=Resource.create({"service.name": service}), metric_readers=[reader]
    )
    meter = provider.get_meter("tests")
    counter = meter.create_counter("orders.processed")
    counter.add(orders - 1, {"region": "north"})
    counter.add(1, {"region": "south"})
    meter.create_gauge("queue.depth").set(queue)
    meter.create_histogram("batch.seconds").record(0.25)
    data = reader.get_metrics_data()
    provider.shutdown()
    assert data is not None
    return bytes(encode_metrics(data).SerializeToString())
