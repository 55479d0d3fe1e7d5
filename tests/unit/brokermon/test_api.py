"""The monitors as the agent serves them: /api/monitoring/latency and /kafka (viewer and up),
/health/detailed's kafka and latency checks, Prometheus families and the alert facts, over a
real broker (tansu); the agent's database is its in-memory SQLite here."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from confluent_kafka import Producer

from appliance.alerting.models import AlertStatus
from appliance.events import EventBus
from tests.support import wait_until
from tests.unit.api.conftest import Agent, start_agent
from tests.unit.brokermon.test_kafka_monitor import consume_and_commit, make_topics


def events(bootstrap: str, tmp_path: Path) -> dict[str, object]:
    return {
        "bootstrap_servers": bootstrap,
        "outbox_path": str(tmp_path / "events.db"),
        "session_timeout_ms": 2000,
        "metadata_timeout_s": 0.5,
    }


@pytest.fixture
def agent_with() -> Iterator[Callable[..., Agent]]:
    with ExitStack() as stack:
        yield lambda **settings: start_agent(stack, **settings)


def test_without_an_event_bus_there_is_no_monitor(agent_with: Callable[..., Agent]) -> None:
    agent = agent_with()
    assert agent.runtime.monitors is None
    assert agent.client.get("/api/monitoring/latency").status_code == 404
    assert agent.client.get("/api/monitoring/kafka").status_code == 404


def test_the_monitors_on_the_api_health_prometheus_and_alert_facts(
    agent_with: Callable[..., Agent], bootstrap: str, tmp_path: Path
) -> None:
    agent = agent_with(events=events(bootstrap, tmp_path))
    monitors = agent.runtime.monitors
    assert monitors is not None and monitors.kafka is not None and monitors.latency is not None
    for path in ("/api/monitoring/latency", "/api/monitoring/kafka"):
        assert agent.send("GET", path).status_code == 401
        assert agent.send("GET", path, token=agent.tokens["scrape"]).status_code == 403
    assert agent.send("GET", "/api/monitoring/kafka", agent.tokens["viewer"]).status_code == 503

    make_topics(bootstrap, {"jobs": 1})
    producer = Producer({"bootstrap.servers": bootstrap})
    for _ in range(7):
        producer.produce("jobs", b"x")
    producer.flush(10)
    consume_and_commit(bootstrap, "workers", "jobs", 2)
    with EventBus(agent.runtime.settings.events) as bus:  # type: ignore[arg-type]
        assert monitors.latency.attach(bus).wait_assigned(20)
        for n in (1, 2, 3):
            monitors.latency.publish_once()
            wait_until(lambda n=n: monitors.latency.stats().count >= n, 20, f"probe {n}")
        monitors.kafka.sample_once()

    latency = agent.send("GET", "/api/monitoring/latency", agent.tokens["viewer"])
    assert latency.status_code == 200, latency.text
    body = latency.json()
    assert body["count"] == 3 and body["pending"] == 0 and body["threshold_ms"] == 200
    assert 0 < body["p50_ms"] <= body["p99_ms"] and body["avg_ms"] > 0

    kafka = agent.send("GET", "/api/monitoring/kafka", agent.tokens["viewer"]).json()
    assert kafka["reachable"] is True and kafka["topics"]["jobs"] == 1
    lags = {(g["group"], g["topic"]): g["lag"] for g in kafka["lag"]}
    assert lags[("workers", "jobs")] == 5
    assert lags[("sovereign-latency-probe", "sovereign.latency-probe")] == 0

    asyncio.run(agent.runtime.health.run_once())
    services = agent.client.get("/health/detailed").json()["services"]
    assert services["kafka"]["status"] == "up"
    assert services["kafka"]["details"]["max_lag"] == 5
    assert services["latency"]["status"] == "up"
    assert services["latency"]["details"]["count"] == 3

    scrape = agent.send("GET", "/metrics", agent.tokens["scrape"]).text
    assert 'appliance_kafka_consumer_lag{group="workers",topic="jobs"} 5.0' in scrape
    assert 'appliance_e2e_latency_ms{quantile="0.99"}' in scrape
    assert "appliance_kafka_broker_up 1.0" in scrape

    alerting = agent.runtime.alerting
    assert alerting is not None
    alerting.evaluate_once()  # a round of rules over the agent's facts, the monitors' included
    for rule_id in ("builtin-kafka-consumer-lag", "builtin-e2e-latency"):
        view = alerting.rule(rule_id)
        # Data for both (nodata otherwise), under their thresholds: no alert.
        assert view.state is AlertStatus.INACTIVE, (rule_id, view.state)
