"""[tracing] otlp_endpoint: the agent's spans also go to an external collector, as OTLP/HTTP
protobuf (the SDK's exporter), here a stand-in that keeps what it receives."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.support import wait_until
from tests.unit.api.conftest import Agent


class Collector:
    def __init__(self) -> None:
        self.requests: list[ExportTraceServiceRequest] = []
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                request = ExportTraceServiceRequest()
                request.ParseFromString(body)
                collector.requests.append(request)
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1/traces"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def span_names(self) -> set[str]:
        return {
            s.name
            for r in self.requests
            for rs in r.resource_spans
            for ss in rs.scope_spans
            for s in ss.spans
        }

    def services(self) -> set[str]:
        return {
            kv.value.string_value
            for r in self.requests
            for rs in r.resource_spans
            for kv in rs.resource.attributes
            if kv.key == "service.name"
        }


@pytest.fixture
def collector() -> Iterator[Collector]:
    c = Collector()
    yield c
    c.server.shutdown()
    c.server.server_close()


def test_spans_also_go_to_the_collector(
    agent_with: Callable[..., Agent], collector: Collector
) -> None:
    agent = agent_with(tracing={"otlp_endpoint": collector.url, "batch_delay_s": 0.1})
    assert agent.client.get("/api/monitoring/performance").status_code == 200
    assert agent.app.state.tracing.flush()
    wait_until(lambda: "GET /api/monitoring/performance" in collector.span_names(), 10, "spans")
    assert agent.client.get("/api/traces").json()["traces"]  # and in the agent's own store
    assert collector.services() == {"sovereign-agent"}
