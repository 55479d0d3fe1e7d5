from __future__ import annotations

import pytest

from api.schemas.monitoring import MetricsOut
from tests.unit.agent.factories import snapshot
from tests.unit.api.conftest import Agent


def test_metrics_lists_catalog_and_full_vitals(agent: Agent) -> None:
    body = agent.client.get("/api/monitoring/metrics").json()
    names = [m["name"] for m in body["metrics"]]
    assert "cpu_percent" in names and "zombie_count" in names
    assert body["vitals"]["status"] == "HEALTHY"
    assert body["vitals"]["disks"][0]["mountpoint"] == "/"


def test_metrics_follow_each_new_sample(agent: Agent) -> None:
    """The answer is serialised once per sample: the same bytes until the next one lands."""
    first = agent.client.get("/api/monitoring/metrics")
    assert first.headers["content-type"] == "application/json"
    assert MetricsOut.model_validate_json(first.content).timestamp == 1000.0
    assert agent.client.get("/api/monitoring/metrics").content == first.content
    agent.collector.push(snapshot(ts=1002.0, cpu=55.0))
    agent.runtime.sampler.sample_once()  # 1001.0, then 1002.0
    agent.runtime.sampler.sample_once()
    body = agent.client.get("/api/monitoring/metrics").json()
    values = {m["name"]: m["value"] for m in body["metrics"]}
    assert (body["timestamp"], values["cpu_percent"], body["vitals"]["ts"]) == (
        1002.0,
        55.0,
        1002.0,
    )


def test_one_metric(agent: Agent) -> None:
    agent.runtime.sampler.sample_once()  # second snapshot: 5000 bytes sent in 1 s
    body = agent.client.get("/api/monitoring/metrics/net_bytes_sent_per_s").json()
    assert (body["value"], body["unit"], body["timestamp"]) == (5000.0, "bytes/s", 1001.0)


def test_unknown_metric_is_404_with_reason(agent: Agent) -> None:
    r = agent.client.get("/api/monitoring/metrics/bogus")
    assert r.status_code == 404
    reason = r.json()["error"]["reason"]
    assert "unknown metric 'bogus'" in reason and "cpu_percent" in reason
    assert agent.client.get("/api/monitoring/metrics/history/bogus").status_code == 404


def test_history_from_store(agent: Agent) -> None:
    agent.runtime.sampler.sample_once()
    body = agent.client.get(
        "/api/monitoring/metrics/history/cpu_percent", params={"limit": 5}
    ).json()
    assert [s["ts"] for s in body["samples"]] == [1000.0, 1001.0]
    body = agent.client.get(
        "/api/monitoring/metrics/history/cpu_percent", params={"since": 1000.5}
    ).json()
    assert [s["ts"] for s in body["samples"]] == [1001.0]


@pytest.mark.parametrize(
    "url",
    [
        "/api/monitoring/metrics/history/cpu_percent?limit=abc",
        "/api/monitoring/metrics/history/cpu_percent?limit=0",
        "/api/monitoring/metrics/history/cpu_percent?limit=100000",
        "/api/monitoring/metrics/history/cpu_percent?since=-1",
        "/api/monitoring/metrics/Bad-Name",
        "/api/monitoring/performance/service/bad%20name",
    ],
)
def test_malformed_parameters_are_422(agent: Agent, url: str) -> None:
    assert agent.client.get(url).status_code == 422


def test_performance_counts_requests_and_services(agent: Agent) -> None:
    agent.client.get("/health")
    agent.client.get("/api/monitoring/metrics/bogus")
    body = agent.client.get("/api/monitoring/performance").json()
    assert body["routes"]["GET /health"]["count"] == 1
    assert body["routes"]["GET /api/monitoring/metrics/{metric_name}"]["count"] == 1
    assert body["requests"]["count"] == 2  # this request is recorded after it answers
    assert {s["name"] for s in body["services"]} == {"agent", "host", "zfs", "backups"}
    assert body["active_connections"] == 1  # this very request


def test_service_performance(agent: Agent) -> None:
    body = agent.client.get("/api/monitoring/performance/service/zfs").json()
    assert (body["name"], body["status"], body["checks"], body["up_ratio"]) == ("zfs", "up", 1, 1.0)
    r = agent.client.get("/api/monitoring/performance/service/vault")
    assert r.status_code == 404 and "unknown service 'vault'" in r.json()["error"]["reason"]


def test_infrastructure(agent: Agent) -> None:
    body = agent.client.get("/api/monitoring/infrastructure").json()
    assert body["host"]["hostname"] == "appliance"
    assert body["lifecycle"] == "ready"
    assert body["units"] == {
        "available": True,
        "reason": "",
        "total": 3,
        "active": 2,
        "failed": ["zfs-fuse.service"],
    }
    assert body["containers"] == {"runtimes": ["docker"], "total": 2, "running": 1}


def test_containers(agent: Agent) -> None:
    body = agent.client.get("/api/monitoring/infrastructure/containers").json()
    assert [u["unit"] for u in body["units"]][1] == "sovereign-agent.service"
    assert body["units"][1]["restarts"] == 2
    assert [c["name"] for c in body["containers"]] == ["edge-proxy", "broker"]


def test_openapi_docs(agent: Agent) -> None:
    assert agent.client.get("/docs").status_code == 200
    paths = agent.client.get("/openapi.json").json()["paths"]
    assert "/api/monitoring/metrics/history/{metric_name}" in paths
