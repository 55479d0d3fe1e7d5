"""The agent's own requests traced by the OpenTelemetry SDK into its database, and served as
pages of traces and span trees: the request's server span with its database statements under
it, filters, cursor pages, who may read them, and tracing turned off."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from appliance.notifications.channels import Delivery, send
from appliance.notifications.models import Channel
from tests.unit.api.conftest import Agent
from tests.unit.notifications.receivers import WebhookReceiver
from tests.unit.tracing.conftest import flush

TRACEPARENT = "00-{trace}-00f067aa0ba902b7-01"


def walk(nodes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [n for node in nodes for n in (node, *walk(node["children"]))]


def test_a_request_is_one_trace_with_its_database_work_under_it(agent: Agent) -> None:
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    response = agent.client.get(
        "/api/monitoring/metrics/history/cpu_percent",
        headers={"traceparent": TRACEPARENT.format(trace=trace_id)},
    )
    assert response.status_code == 200
    flush(agent)
    body = agent.client.get(f"/api/traces/{trace_id}").json()
    # The caller's span is not stored: the agent's server span is the root of what is.
    (root,) = body["roots"]
    assert root["kind"] == "server" and root["parent_id"] == "00f067aa0ba902b7"
    assert root["name"] == "GET /api/monitoring/metrics/history/{metric_name}"
    assert root["attributes"]["http.status_code"] == 200
    statements = [n for n in walk(root["children"]) if n["kind"] == "client"]
    assert any("metric_samples" in n["attributes"].get("db.statement", "") for n in statements)
    assert all(n["service"] == "sovereign-agent" for n in walk(body["roots"]))
    assert body["spans"] == len(walk(body["roots"]))


def test_recent_traces_newest_first_in_cursor_pages(agent: Agent) -> None:
    for _ in range(5):
        assert agent.client.get("/api/monitoring/performance").status_code == 200
    flush(agent)
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = agent.client.get("/api/traces", params=params).json()
        seen += [t["trace_id"] for t in page["traces"]]
        starts = [t["start"] for t in page["traces"]]
        assert starts == sorted(starts, reverse=True)
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) >= 5
    mine = agent.client.get("/api/traces/service/sovereign-agent", params={"limit": 100}).json()
    assert {t["trace_id"] for t in mine["traces"]} == set(seen)
    assert agent.client.get("/api/traces/service/nobody").json()["traces"] == []


def test_filters_on_status_and_duration(agent: Agent) -> None:
    assert agent.client.get("/api/monitoring/metrics/nonexistent").status_code == 404
    assert agent.client.get("/api/monitoring/performance").status_code == 200
    flush(agent)
    everything = agent.client.get("/api/traces").json()["traces"]
    assert len(everything) == 2
    errors = agent.client.get("/api/traces", params={"status": "error"}).json()["traces"]
    fine = agent.client.get("/api/traces", params={"status": "ok"}).json()["traces"]
    # A 404 is the caller's error: the server span's status stays unset (OTel's HTTP rules).
    assert errors == [] and len(fine) == 2
    _fast, slow = sorted(everything, key=lambda t: t["duration_ms"])
    # Durations are shown to the microsecond: ask for a little less than the slower one's.
    at_least = slow["duration_ms"] - 0.002
    found = agent.client.get("/api/traces", params={"min_duration_ms": at_least}).json()
    expected = [t["trace_id"] for t in everything if t["duration_ms"] >= at_least]
    assert [t["trace_id"] for t in found["traces"]] == expected and slow["trace_id"] in expected
    later = agent.client.get("/api/traces", params={"since": everything[0]["start"]}).json()
    assert [t["trace_id"] for t in later["traces"]] == [everything[0]["trace_id"]]


def test_refusals(agent: Agent) -> None:
    assert agent.client.get("/api/traces/" + "0" * 32).status_code == 404
    assert agent.client.get("/api/traces/not-hex").status_code == 422
    assert agent.client.get("/api/traces", params={"cursor": "x"}).status_code == 422
    assert agent.send("GET", "/api/traces", agent.tokens["viewer"]).status_code == 403
    assert agent.send("GET", "/api/traces", None).status_code == 401
    assert agent.send("GET", "/api/traces", agent.tokens["operator"]).status_code == 200


def test_probes_are_not_traced(agent: Agent) -> None:
    for path in ("/health", "/metrics"):
        agent.client.get(path)
    flush(agent)
    assert agent.client.get("/api/traces").json()["traces"] == []


def test_tracing_off_records_nothing(agent_with: Callable[..., Agent]) -> None:
    agent = agent_with(tracing={"enabled": False})
    assert agent.client.get("/api/monitoring/performance").status_code == 200
    flush(agent)
    assert agent.client.get("/api/traces").json() == {"traces": [], "next_cursor": None}


def test_background_database_work_is_not_a_trace(agent: Agent) -> None:
    agent.runtime.sampler.sample_once()  # writes its metric samples, outside any request
    flush(agent)
    assert agent.client.get("/api/traces").json()["traces"] == []


def test_a_notification_delivery_is_a_span_with_its_http_call(
    agent: Agent, webhook: WebhookReceiver
) -> None:
    webhook.status = 500
    channel = Channel("ops-hook", "webhook", {"url": webhook.url})
    delivery = Delivery(notification_id=1, subject="disk", text="full", recipient=None)
    assert not send(channel, {}, delivery).ok
    flush(agent)
    (summary,) = agent.client.get("/api/traces").json()["traces"]
    assert summary["error"] and summary["root"] == "sovereign-agent: notify webhook"
    (root,) = agent.client.get(f"/api/traces/{summary['trace_id']}").json()["roots"]
    assert root["attributes"] == {
        "notification.channel": "ops-hook",
        "notification.kind": "webhook",
    }
    # Apprise's POST went through requests: instrumented, a client span under the delivery.
    assert [c["attributes"].get("http.status_code") for c in root["children"]] == [500]


def test_sampling_keeps_what_the_caller_sampled(agent_with: Callable[..., Agent]) -> None:
    agent = agent_with(tracing={"sample_ratio": 0.0})
    sampled = "0af7651916cd43dd8448eb211c80319c"
    agent.client.get("/api/monitoring/performance")  # a new trace: not kept at ratio 0
    agent.client.get(
        "/api/monitoring/performance", headers={"traceparent": f"00-{sampled}-b7ad6b7169203331-01"}
    )
    agent.client.get(
        "/api/monitoring/performance", headers={"traceparent": f"00-{'1' * 32}-b7ad6b7169203331-00"}
    )
    flush(agent)
    assert [t["trace_id"] for t in agent.client.get("/api/traces").json()["traces"]] == [sampled]
