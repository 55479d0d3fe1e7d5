"""Issue 15's done-when for traces: a request to the agent that publishes an event yields one
trace whose spans cover the HTTP request, the publish, the consume and the handler's
database write, at /api/traces/{id}. The event bus runs on a real broker (tansu); the bus
makes its spans with the OpenTelemetry API, the agent's SDK records them."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from appliance.events import BusEvent, EventBus, EventBusSettings
from tests.support import wait_until
from tests.unit.api.conftest import Agent
from tests.unit.events.conftest import Broker
from tests.unit.tracing.conftest import flush


def walk(nodes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [n for node in nodes for n in (node, *walk(node["children"]))]


def test_http_publish_consume_and_the_handlers_write_are_one_trace(
    agent: Agent, broker: Broker, make_settings: Callable[..., EventBusSettings]
) -> None:
    store = agent.runtime.store
    assert store is not None
    handled: list[BusEvent] = []

    def handler(event: BusEvent) -> None:
        store.set_state("last_pool_event", str(event.payload["pool"]), time.time())
        handled.append(event)

    with EventBus(make_settings(broker.bootstrap)) as bus:
        subscription = bus.subscribe("storage.pool", handler)
        subscription.wait_assigned(5)  # a topic made by the first publish: maybe not yet

        def publish_route() -> dict[str, str]:
            sent = bus.publish("storage.pool", {"pool": "tank"}, key="tank")
            return {"id": str(sent.id)}

        agent.app.add_api_route("/test/publish", publish_route, methods=["POST"])
        response = agent.client.post("/test/publish")
        assert response.status_code == 200
        wait_until(lambda: len(handled) == 1, 20, "the event handled")
    flush(agent)
    (summary,) = agent.client.get("/api/traces").json()["traces"]
    spans = walk(agent.client.get(f"/api/traces/{summary['trace_id']}").json()["roots"])
    (server,) = [s for s in spans if s["kind"] == "server"]
    (publish,) = [s for s in spans if s["kind"] == "producer"]
    (consume,) = [s for s in spans if s["kind"] == "consumer"]
    writes = [
        s for s in spans
        if "agent_state" in s["attributes"].get("db.statement", "")
        and s["parent_id"] == consume["span_id"]
    ]  # fmt: skip
    assert server["parent_id"] is None and server["name"] == "POST /test/publish"
    assert publish["name"] == "publish storage.pool"
    assert publish["parent_id"] == server["span_id"]
    assert consume["parent_id"] == publish["span_id"]
    assert writes, f"no database write under the consumer span: {[s['name'] for s in spans]}"
