"""Traces on a deployed lab host: a small service started on the host exports OTLP as
`data-processing` (the OpenTelemetry SDK and its OTLP/HTTP exporter, from the agent's venv,
with an operator token made by the agent's host CLI) and appears, through the edge, at
/api/monitoring/performance/service/data-processing with its request rate and latency, at
/api/traces/service/data-processing, and its business metric in the metrics history; the
agent's own requests are traced too (issue 15's done-when for traces)."""

from __future__ import annotations

import base64
import secrets
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.lab.conftest import Edge, ssh

AGENT_PYTHON = "/opt/sovereign/agent/bin/python"
SECURITY_CLI = (
    f"APPLIANCE_CONFIG_FILE=/etc/sovereign/agent.toml {AGENT_PYTHON} -m appliance.security"
)
REQUESTS = 40
FAILED = 4

#: The service: 40 requests of 20-40 ms, 4 of them failing, and a counter of orders.
SERVICE = f"""
import random, sys, time
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind, StatusCode

token = open(sys.argv[1]).read().strip()
headers = {{"Authorization": "Bearer " + token}}
base = "http://127.0.0.1:8013/v1/"
resource = Resource.create({{"service.name": "data-processing"}})
spans = OTLPSpanExporter(endpoint=base + "traces", headers=headers, compression=Compression.Gzip)
tracing = TracerProvider(resource=resource)
tracing.add_span_processor(BatchSpanProcessor(spans))
reader = PeriodicExportingMetricReader(
    OTLPMetricExporter(endpoint=base + "metrics", headers=headers), export_interval_millis=60000
)
metering = MeterProvider(resource=resource, metric_readers=[reader])
orders = metering.get_meter("service").create_counter("orders.processed")
tracer = tracing.get_tracer("service")
for i in range({REQUESTS}):
    with tracer.start_as_current_span("POST /process", kind=SpanKind.SERVER) as span:
        with tracer.start_as_current_span("transform"):
            time.sleep(random.uniform(0.02, 0.04))
        if i < {FAILED}:
            span.set_status(StatusCode.ERROR, "bad input")
        else:
            orders.add(1)
ok = tracing.force_flush() and metering.force_flush()
tracing.shutdown()
metering.shutdown()
print("exported" if ok else "export failed")
"""


@pytest.fixture(scope="module")
def token_file(lab: str, edge: Edge) -> Iterator[str]:
    """An operator token for the service, made on the host, in a root-only file there."""
    name = f"data-processing-{secrets.token_hex(3)}"
    path = f"/run/sovereign-otlp-{name}"
    made = ssh(lab, f"umask 077 && {SECURITY_CLI} token create --name {name} --role operator "
                    f"> {path}", check=False)  # fmt: skip
    assert made.returncode == 0, made.stderr
    yield path
    ssh(lab, f"rm -f {path}; {SECURITY_CLI} token revoke {name} >/dev/null 2>&1", check=False)


def run_service(lab: str, token_file: str) -> str:
    script = base64.b64encode(SERVICE.encode()).decode()
    out = ssh(lab, f"echo {script} | base64 -d > /run/otlp-service.py && "
                   f"{AGENT_PYTHON} /run/otlp-service.py {token_file}")  # fmt: skip
    return out.stdout


def test_a_service_exporting_otlp_appears_with_its_rate_and_latency(
    lab: str, edge: Edge, token_file: str
) -> None:
    started = time.time()
    assert "exported" in run_service(lab, token_file)
    response = edge.admin("/api/monitoring/performance/service/data-processing")
    assert response.status_code == 200, response.text
    perf: dict[str, Any] = response.json()
    print(f"data-processing: {perf}")
    assert perf["source"] == "spans" and perf["checks"] == REQUESTS
    assert perf["request_rate_per_s"] == pytest.approx(REQUESTS / perf["window_s"], rel=1e-3)
    assert perf["latency"]["error_rate"] == FAILED / REQUESTS
    assert 20 <= perf["latency"]["p50_ms"] <= perf["latency"]["p95_ms"] <= perf["latency"]["p99_ms"]
    assert perf["latency"]["p99_ms"] < 1000 and perf["last_checked_at"] >= started

    traces = edge.get(
        "/api/traces/service/data-processing", edge.admin_token,
        params={"since": started, "limit": 100},
    ).json()["traces"]  # fmt: skip
    assert len(traces) == REQUESTS and sum(t["error"] for t in traces) == FAILED
    tree = edge.admin(f"/api/traces/{traces[0]['trace_id']}").json()
    assert tree["roots"][0]["name"] == "POST /process"
    assert tree["roots"][0]["children"][0]["name"] == "transform"

    history = edge.admin("/api/monitoring/metrics/history/svc_data_processing_orders_processed")
    assert history.status_code == 200
    assert history.json()["samples"][-1]["value"] == REQUESTS - FAILED


def test_the_agents_own_requests_are_traced(edge: Edge) -> None:
    trace_id = secrets.token_hex(16)
    traceparent = f"00-{trace_id}-{secrets.token_hex(8)}-01"
    headers = {"Authorization": f"Bearer {edge.admin_token}", "traceparent": traceparent}
    response = httpx.get(f"{edge.url}/api/monitoring/performance", headers=headers,
                         verify=str(edge.ca_cert), timeout=10)  # fmt: skip
    assert response.status_code == 200
    deadline = time.monotonic() + 15  # written by the batch processor within ~2 s
    while (found := edge.admin(f"/api/traces/{trace_id}")).status_code == 404:
        assert time.monotonic() < deadline, "the request's trace was not stored"
        time.sleep(0.5)
    root = found.json()["roots"][0]
    assert root["service"] == "sovereign-agent" and root["kind"] == "server"
    assert root["name"] == "GET /api/monitoring/performance"


def test_only_a_token_may_send(edge: Edge) -> None:
    response = httpx.post(f"{edge.url}/v1/traces", content=b"", verify=str(edge.ca_cert),
                          headers={"content-type": "application/x-protobuf"})  # fmt: skip
    assert response.status_code == 401
