"""An app over fakes: captured ZFS output, fake vitals, systemctl fixtures, in-memory SQLite."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.main import create_app
from appliance.command import CommandResult
from appliance.database.connect import open_sqlite
from appliance.host import HostInfo
from appliance.infrastructure.service import InfrastructureService
from appliance.runtime import AgentRuntime
from appliance.storage.backends import reading_from_state_output
from appliance.storage.models import ZfsReading
from tests.unit.agent.factories import FakeCollector, make_settings, snapshot

ZFS_FIX = Path(__file__).parents[1] / "zfs" / "fixtures" / "zfs-fuse"
AGENT_FIX = Path(__file__).parents[1] / "agent" / "fixtures"


class CapturedZfs:
    name = "cli"

    def __init__(self) -> None:
        self.text = (ZFS_FIX / "state-two-pools.txt").read_text()

    def read_state(self) -> ZfsReading:
        return reading_from_state_output(self.text, "cli")


def fake_runner(argv: list[str], timeout: float) -> CommandResult:
    files = {
        "systemctl list-units": "systemctl-list-units.json",
        "systemctl show": "systemctl-show.txt",
        "docker ps": "docker-ps.jsonl",
    }
    return CommandResult(tuple(argv), 0, (AGENT_FIX / files[" ".join(argv[:2])]).read_text(), "")


@dataclass
class Agent:
    app: FastAPI
    runtime: AgentRuntime
    client: TestClient
    collector: FakeCollector
    zfs: CapturedZfs


@pytest.fixture
def agent() -> Iterator[Agent]:
    settings = make_settings()
    collector = FakeCollector(snapshot(ts=1000.0), snapshot(ts=1001.0, sent=5000))
    zfs = CapturedZfs()
    runtime = AgentRuntime.build(
        settings,
        collect=collector.collect,
        store=open_sqlite(":memory:"),
        infrastructure=InfrastructureService(
            ["sovereign-*"],
            5.0,
            fake_runner,
            lambda prog: prog in ("systemctl", "docker"),
            lambda: HostInfo(
                "appliance", "Debian GNU/Linux 12", "6.1.0", "x86_64", 2, 8 << 30, 0.0, 60.0
            ),
        ),
        zfs_backend=lambda: zfs,
    )
    app = create_app(settings, runtime=runtime, background=False)
    with TestClient(app) as client:
        yield Agent(app, runtime, client, collector, zfs)
