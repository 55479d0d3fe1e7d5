"""The agent role's outcome: a hardened `sovereign-agent` unit, running as its own user,
answering on its port with every service of the appliance up on `/health/detailed`."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.infra.expected import (
    AGENT_CONFIG,
    AGENT_UNIT,
    SERVICE_USER,
    Agent,
    HostData,
    Pool,
)

pytestmark = pytest.mark.journal(AGENT_UNIT)

# What the agent checks on every appliance host; `vault` too where the host has one.
SERVICES = ("agent", "zfs", "postgres", "broker")


@pytest.fixture(scope="module")
def agent(host_data: HostData) -> Agent:
    return Agent.of(host_data)


@pytest.fixture(scope="module")
def health(host: Any, agent: Agent) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(
        host.check_output(f"curl -sf --max-time 10 {agent.url}/health/detailed")
    )
    return body


def test_unit_enabled_and_running(host: Any) -> None:
    service = host.service(AGENT_UNIT)
    assert service.is_enabled
    assert service.is_running


def test_runs_as_its_own_user(host: Any) -> None:
    pid = host.check_output(f"systemctl show -p MainPID --value {AGENT_UNIT}")
    assert pid != "0"
    assert host.check_output(f"ps -o user= -p {pid}") == SERVICE_USER


def test_listens_on_its_port(host: Any, agent: Agent) -> None:
    assert host.socket(f"tcp://{agent.address}:{agent.port}").is_listening


def test_health_detailed_answers(health: dict[str, Any]) -> None:
    assert health["status"] in ("healthy", "degraded", "unhealthy")


@pytest.mark.parametrize("service", [*SERVICES, "vault"])
def test_health_detailed_service_up(
    health: dict[str, Any], host_data: HostData, service: str
) -> None:
    if service == "vault" and host_data.get("vault") is None:
        pytest.skip("no Vault on this host")
    entry = health["services"].get(service)
    assert entry is not None, sorted(health["services"])
    assert entry["status"] == "up", entry
    assert entry["latency_ms"] >= 0


def test_health_detailed_reports_pool_online(health: dict[str, Any], pool: Pool) -> None:
    assert health["services"]["zfs"]["details"]["pools"].get(pool.name) == "ONLINE"


def test_config_readable_by_the_agent_only(host: Any) -> None:
    conf = host.file(AGENT_CONFIG)
    assert (conf.user, conf.group, conf.mode) == ("root", SERVICE_USER, 0o640)


@pytest.mark.parametrize(
    ("prop", "value"),
    [
        ("User", SERVICE_USER),
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("CapabilityBoundingSet", ""),
        ("AmbientCapabilities", ""),
        ("RestrictSUIDSGID", "yes"),
    ],
)
def test_unit_hardened(host: Any, prop: str, value: str) -> None:
    assert host.check_output(f"systemctl show -p {prop} --value {AGENT_UNIT}") == value
