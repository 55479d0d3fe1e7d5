from __future__ import annotations

import asyncio

from appliance.errors import BackendUnavailable
from tests.unit.api.conftest import ZFS_FIX, Agent


def test_pools(agent: Agent) -> None:
    body = agent.client.get("/api/storage/pools").json()
    tank = {p["name"]: p for p in body["pools"]}["tank"]
    assert (tank["redundancy"], tank["health"], tank["size_bytes"]) == (
        "raidz2",
        "ONLINE",
        2285030120 + 1916700952,
    )
    assert "datasets" not in tank
    assert body["backend"] == "cli"


def test_quota(agent: Agent) -> None:
    body = agent.client.get("/api/storage/quota").json()
    tank = {p["name"]: p for p in body["pools"]}["tank"]
    vault = {d["name"]: d for d in tank["datasets"]}["tank/vault"]
    assert vault["quota_bytes"] == 67108864
    assert vault["quota_percent"] == round(229152 / 67108864 * 100, 2)


def test_backend_down_is_503(agent: Agent) -> None:
    def broken() -> None:
        raise BackendUnavailable("neither py-libzfs nor the zfs/zpool commands are installed")

    agent.runtime.storage._cached = None
    agent.runtime.storage._backend = None
    agent.runtime.storage._backend_factory = broken  # type: ignore[assignment]
    r = agent.client.get("/api/storage/pools")
    assert r.status_code == 503 and "neither" in r.json()["error"]["reason"]


def test_levels_beside_the_percentages(agent: Agent) -> None:
    pools = agent.client.get("/api/storage/pools").json()["pools"]
    tank = {p["name"]: p for p in pools}["tank"]
    assert (tank["redundancy_remaining"], tank["redundancy_level"], tank["lost_devices"]) == (
        2,
        "ok",
        [],
    )
    assert tank["capacity_level"] == "ok" and tank["capacity_threshold"] is None
    assert tank["level"] == "ok"
    quota = agent.client.get("/api/storage/quota").json()["pools"]
    datasets = {d["name"]: d for p in quota for d in p["datasets"]}
    vault = datasets["tank/vault"]
    assert (vault["quota_level"], vault["refquota_level"], vault["level"]) == ("ok", "ok", "ok")
    assert vault["mountpoint"] == "/tmp/zfscapture/mnt/tank/vault"  # as captured
    assert vault["space_percent"] == round(
        vault["used_bytes"] / (vault["used_bytes"] + vault["available_bytes"]) * 100, 2
    )


def test_two_disks_offline_show_in_the_api_and_make_health_unhealthy(agent: Agent) -> None:
    """The drill's pool, captured: raidz2 with d2 and d5 offline."""
    state = (ZFS_FIX / "state-two-pools.txt").read_text()
    degraded = (ZFS_FIX / "status-degraded-2.txt").read_text()
    start = state.index("  pool: tank")
    end = state.index("errors:", start)
    end = state.index("\n", end)
    agent.zfs.text = state[:start] + degraded.strip() + state[end:]
    agent.runtime.storage._cached = None
    tank = {p["name"]: p for p in agent.client.get("/api/storage/pools").json()["pools"]}["tank"]
    assert (tank["health"], tank["redundancy_remaining"], tank["level"]) == (
        "DEGRADED",
        0,
        "critical",
    )
    asyncio.run(agent.runtime.health.run_once())
    body = agent.client.get("/health/detailed").json()
    assert body["status"] == "unhealthy"
    zfs = body["services"]["zfs"]
    assert (zfs["status"], zfs["level"]) == ("degraded", "critical")
