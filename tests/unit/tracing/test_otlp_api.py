"""POST /v1/traces and /v1/metrics with what a service's OTLP/HTTP exporter sends (its SDK's
own encoding): its spans under /api/traces/service/NAME, its request rate, latency and
errors at /api/monitoring/performance/service/NAME, its metrics in /api/monitoring/metrics
and their history; refusals, roles, and the audit trail's one record an hour."""

from __future__ import annotations

import gzip

import pytest

from appliance.security.audit import AuditQuery
from tests.unit.api.conftest import Agent
from tests.unit.tracing.otel import metrics_body, traces_body

PROTOBUF = {"content-type": "application/x-protobuf"}


def post_traces(agent: Agent, body: bytes, headers: dict[str, str] | None = None) -> int:
    response = agent.send(
        "POST", "/v1/traces", agent.tokens["operator"], headers={**PROTOBUF, **(headers or {})},
        content=body,
    )  # fmt: skip
    return response.status_code


def test_a_services_spans_show_as_its_traces_and_its_performance(agent: Agent) -> None:
    assert post_traces(agent, traces_body("data-processing", 4, errors=1, sleep_s=0.01)) == 200
    traces = agent.client.get("/api/traces/service/data-processing").json()["traces"]
    assert len(traces) == 4 and all(t["services"] == ["data-processing"] for t in traces)
    assert sum(t["error"] for t in traces) == 1
    tree = agent.client.get(f"/api/traces/{traces[0]['trace_id']}").json()
    (root,) = tree["roots"]
    assert root["name"] == "POST /process" and root["children"][0]["name"] == "transform"
    perf = agent.client.get("/api/monitoring/performance/service/data-processing").json()
    assert perf["source"] == "spans" and perf["checks"] == 4
    assert perf["request_rate_per_s"] == pytest.approx(4 / perf["window_s"], rel=1e-3)
    assert perf["latency"]["error_rate"] == 0.25 and perf["up_ratio"] == 0.75
    assert 10 <= perf["latency"]["p50_ms"] <= perf["latency"]["p99_ms"] < 1000
    # A service known neither from checks nor spans is still a 404.
    assert agent.client.get("/api/monitoring/performance/service/nobody").status_code == 404


def test_a_span_sent_twice_is_kept_once(agent: Agent) -> None:
    body = traces_body("billing", 2)
    assert post_traces(agent, body) == 200
    assert post_traces(agent, gzip.compress(body), {"content-encoding": "gzip"}) == 200
    assert len(agent.client.get("/api/traces/service/billing").json()["traces"]) == 2


def test_custom_metrics_land_in_metrics_and_history(agent: Agent) -> None:
    for orders in (3, 5):
        response = agent.send(
            "POST", "/v1/metrics", agent.tokens["operator"], headers=PROTOBUF,
            content=metrics_body("data-processing", orders, 2.0),
        )  # fmt: skip
        assert response.status_code == 200
    latest = {
        m["name"]: m["value"] for m in agent.client.get("/api/monitoring/metrics").json()["metrics"]
    }
    assert latest["svc_data_processing_orders_processed"] == 5.0
    assert latest["cpu_percent"] is not None  # the built-ins are still there
    history = agent.client.get(
        "/api/monitoring/metrics/history/svc_data_processing_orders_processed"
    ).json()
    assert [s["value"] for s in history["samples"]] == [3.0, 5.0]
    one = agent.client.get("/api/monitoring/metrics/svc_data_processing_queue_depth").json()
    assert one["value"] == 2.0


@pytest.mark.parametrize(
    ("headers", "body", "status"),
    [
        ({"content-type": "text/plain"}, b"x", 415),
        (PROTOBUF, b"\x0a\x05junk", 400),
        ({**PROTOBUF, "content-encoding": "gzip"}, gzip.compress(b"\0" * (5 << 20)), 413),
    ],
)
def test_bad_requests_are_refused(
    agent: Agent, headers: dict[str, str], body: bytes, status: int
) -> None:
    response = agent.send(
        "POST", "/v1/traces", agent.tokens["operator"], headers=headers, content=body
    )
    assert response.status_code == status, response.text


def test_an_uncompressed_batch_over_the_api_body_limit_is_taken(agent: Agent) -> None:
    """An exporter's batch, uncompressed (the SDK's default), is far over the 64 KiB other
    routes take: the receiver's own bound applies to it."""
    body = traces_body("big-batch", 400)
    assert len(body) > 65536
    assert post_traces(agent, body) == 200
    assert len(agent.client.get("/api/traces/service/big-batch").json()["traces"]) > 0
    # Any other route still refuses such a body.
    response = agent.send(
        "POST", "/api/notifications/notify", agent.tokens["operator"], content=body,
        headers={"content-type": "application/json"},
    )  # fmt: skip
    assert response.status_code == 413


def test_too_many_spans_in_one_request(agent_with: object) -> None:
    agent = agent_with(tracing={"max_spans_per_request": 10})  # type: ignore[operator]
    assert post_traces(agent, traces_body("svc", 6)) == 413  # 12 spans


def test_only_operators_send(agent: Agent) -> None:
    body = traces_body("svc", 1)
    for role, status in (("viewer", 403), ("scrape", 403), ("admin", 200)):
        response = agent.send(
            "POST", "/v1/traces", agent.tokens[role], headers=PROTOBUF, content=body
        )
        assert response.status_code == status
    assert agent.send("POST", "/v1/traces", None, headers=PROTOBUF, content=body).status_code == 401


def test_exports_are_audited_once_an_hour_per_token_failures_always(agent: Agent) -> None:
    for _ in range(3):
        assert post_traces(agent, traces_body("svc", 1)) == 200
    assert post_traces(agent, b"\x0a\x05junk") == 400
    records, _ = agent.security.audit.query(AuditQuery(actor="test-operator"))
    actions = sorted((r.action, r.outcome) for r in records)
    assert actions == [("POST /v1/traces", "failure"), ("otlp.traces", "success")]
    (ok,) = [r for r in records if r.action == "otlp.traces"]
    assert ok.detail["spans"] == 2 and ok.detail["services"] == ["svc"]
