from __future__ import annotations

from tests.unit.api.conftest import ZFS_FIX, Agent


def test_prometheus_exposition(agent: Agent) -> None:
    agent.client.get("/health")
    agent.client.get("/api/storage/pools")
    text = agent.client.get("/metrics").text
    assert 'request_count_total{method="GET",route="/health",status="200"} 1.0' in text
    assert 'request_latency_ms_bucket{le="5.0",method="GET",route="/health"}' in text
    assert "error_rate 0.0" in text
    assert "active_connections 1.0" in text  # the scrape itself
    assert "appliance_cpu_percent 10.0" in text
    assert "appliance_vitals_status 0.0" in text
    assert 'appliance_pool_capacity_percent{pool="tank"}' in text
    assert 'appliance_pool_healthy{health="ONLINE",pool="tank"} 1.0' in text
    assert 'appliance_service_up{service="zfs"} 1.0' in text


def test_errors_raise_error_rate(agent: Agent) -> None:
    agent.runtime.storage._cached = None
    agent.zfs.text = (ZFS_FIX / "state-daemon-down.txt").read_text()
    agent.client.get("/api/storage/pools")  # 503
    agent.client.get("/health")  # 200
    assert "error_rate 0.5" in agent.client.get("/metrics").text
