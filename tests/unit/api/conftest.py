"""An app over fakes: captured ZFS output, fake vitals, systemctl fixtures, in-memory SQLite."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.main import create_app
from appliance.command import CommandResult
from appliance.database.connect import open_sqlite
from appliance.host import HostInfo
from appliance.infrastructure.service import InfrastructureService
from appliance.runtime import AgentRuntime
from appliance.secrets import SecretManager
from appliance.security.roles import Role
from appliance.security.service import Security
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
    #: Sends the admin token with every request (tests of other things need not care).
    client: TestClient
    collector: FakeCollector
    zfs: CapturedZfs
    #: A token per role, by role name ("admin", "operator", "viewer", "scrape").
    tokens: dict[str, str] = field(repr=False)

    @property
    def security(self) -> Security:
        assert self.runtime.security is not None
        return self.runtime.security

    def send(
        self,
        method: str,
        url: str,
        token: str | None = None,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        """One request with ``token`` (None: no Authorization header at all, unless
        ``headers`` has one)."""
        request = self.client.build_request(method, url, headers=headers, **kwargs)
        if "authorization" not in {k.lower() for k in headers or {}}:
            del request.headers["authorization"]
            if token is not None:
                request.headers["authorization"] = f"Bearer {token}"
        return self.client.send(request)


def make_tokens(security: Security) -> dict[str, str]:
    return {
        role.value: security.tokens.create(f"test-{role.value}", role, created_by="tests").secret
        for role in Role
    }


#: The test client's address (Starlette's default, "testclient", is not an IP).
CLIENT = "192.0.2.1"


def start_agent(
    stack: ExitStack,
    secret_manager: SecretManager | None = None,
    **settings: Any,
) -> Agent:
    """An agent over the fakes, with ``settings`` over the test defaults (e.g. security=…)."""
    built = make_settings(**settings)
    collector = FakeCollector(snapshot(ts=1000.0), snapshot(ts=1001.0, sent=5000))
    zfs = CapturedZfs()
    runtime = AgentRuntime.build(
        built,
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
        secrets=secret_manager,
    )
    app = create_app(built, runtime=runtime, background=False)
    client = stack.enter_context(TestClient(app, client=(CLIENT, 50000)))
    assert runtime.security is not None
    tokens = make_tokens(runtime.security)
    client.headers["authorization"] = f"Bearer {tokens['admin']}"
    return Agent(app, runtime, client, collector, zfs, tokens)


@pytest.fixture
def agent() -> Iterator[Agent]:
    with ExitStack() as stack:
        yield start_agent(stack)


@pytest.fixture
def agent_with() -> Iterator[Callable[..., Agent]]:
    """``agent_with(security={"burst": 2})``: an agent with other settings."""
    with ExitStack() as stack:
        yield lambda **settings: start_agent(stack, **settings)
