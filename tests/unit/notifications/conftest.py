from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from appliance.errors import BackendUnavailable
from appliance.runtime import AgentRuntime
from appliance.secrets import SecretManager
from appliance.secrets.env import EnvBackend
from appliance.storage.service import ZfsBackend
from tests.unit.agent.factories import FakeCollector, make_settings, snapshot


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def no_zfs() -> ZfsBackend:
    raise BackendUnavailable("no ZFS in these tests")


def started_agent(database: Path, channels: list[dict[str, Any]]) -> AgentRuntime:
    """An agent on the SQLite file ``database`` whose configuration declares ``channels``,
    started without its background work (it has declared them when this returns)."""
    agent = AgentRuntime.build(
        make_settings(sqlite_path=str(database), notifications={"channels": channels}),
        collect=FakeCollector(snapshot(ts=1000.0)).collect,
        zfs_backend=no_zfs,
        secrets=SecretManager(EnvBackend(), 300),
    )
    asyncio.run(agent.start(background=False))
    return agent
