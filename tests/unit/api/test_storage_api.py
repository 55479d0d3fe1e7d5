from __future__ import annotations

from appliance.errors import BackendUnavailable
from tests.unit.api.conftest import Agent


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
