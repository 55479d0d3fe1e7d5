from __future__ import annotations

import asyncio

from appliance.lifecycle import LifecycleState
from tests.unit.api.conftest import ZFS_FIX, Agent


def test_health_serves_last_background_result(agent: Agent) -> None:
    r = agent.client.get("/health")
    assert r.status_code == 200
    assert r.json()["status"] == "healthy"
    assert r.json()["lifecycle"] == "ready"
    # Breaking ZFS does not show until the next background round: /health runs no checks.
    agent.zfs.text = (ZFS_FIX / "state-daemon-down.txt").read_text()
    agent.runtime.storage._cached = None
    assert agent.client.get("/health").json()["status"] == "healthy"
    asyncio.run(agent.runtime.health.run_once())
    r = agent.client.get("/health")
    assert (r.status_code, r.json()["status"]) == (503, "unhealthy")


def test_health_detailed_shape(agent: Agent) -> None:
    body = agent.client.get("/health/detailed").json()
    assert set(body) == {"status", "services"}
    assert body["status"] == "healthy"
    assert set(body["services"]) == {"agent", "host", "zfs", "backups"}
    # No backup unit on this machine: nothing to judge, and not a failure.
    assert body["services"]["backups"]["status"] == "up"
    assert body["services"]["backups"]["message"] == "no backups deployed on this host"
    for service in body["services"].values():
        assert service["status"] in ("up", "down", "degraded")
        assert isinstance(service["latency_ms"], float)
    assert body["services"]["zfs"]["details"]["pools"] == {"mpool": "ONLINE", "tank": "ONLINE"}


def test_draining_reports_not_ready(agent: Agent) -> None:
    ready = agent.client.get("/health")  # serialised once: the next change must still show
    assert ready.status_code == 200 and agent.client.get("/health").content == ready.content
    agent.runtime.lifecycle.transition(LifecycleState.DRAINING)
    r = agent.client.get("/health")
    assert r.status_code == 503
    assert r.json()["lifecycle"] == "draining" and r.json()["ready"] is False
