"""The agent role's outcome: a hardened `sovereign-agent` unit, running as its own user,
listening on loopback only (the edge fronts it), with every service of the appliance up on
`/health/detailed` (asked through the edge, with a viewer token)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.infra.conftest import exposure
from tests.infra.expected import (
    AGENT_CONFIG,
    AGENT_UNIT,
    APPLIANCE_CA,
    EXPOSURE_LIMIT,
    SERVICE_USER,
    Agent,
    Edge,
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
def health(host: Any, host_data: HostData, viewer_header: str) -> dict[str, Any]:
    url = Edge.of(host_data).url("127.0.0.1")
    body: dict[str, Any] = json.loads(
        host.check_output(
            f"curl -sf --max-time 10 --cacert {APPLIANCE_CA} -H @{viewer_header} "
            f"{url}/health/detailed"
        )
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


def test_listens_on_its_port_only_where_declared(host: Any, agent: Agent) -> None:
    assert host.socket(f"tcp://{agent.address}:{agent.port}").is_listening
    listening = {
        line.split()[3].rsplit(":", 1)[0].strip("[]")
        for line in host.check_output(f"ss -Hltn sport = :{agent.port}").splitlines()
    }
    assert listening == {agent.address}


def test_detailed_health_needs_a_token(host: Any, agent: Agent) -> None:
    url = f"{agent.url}/health/detailed"
    code = host.check_output(f"curl -s -o /dev/null -w '%{{http_code}}' {url}")
    assert code == "401"


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
        ("MemoryDenyWriteExecute", "yes"),
        ("DevicePolicy", "closed"),
        ("SystemCallArchitectures", "native"),
    ],
)
def test_unit_hardened(host: Any, prop: str, value: str) -> None:
    assert host.check_output(f"systemctl show -p {prop} --value {AGENT_UNIT}") == value


def test_unit_filters_system_calls(host: Any) -> None:
    """SystemCallFilter=@system-service: an allow list, so privileged calls are not in it."""
    allowed = host.check_output(f"systemctl show -p SystemCallFilter --value {AGENT_UNIT}").split()
    assert "read" in allowed
    assert not {"reboot", "mount", "init_module", "kexec_load"} & set(allowed)


def test_exposure_below_the_limit(host: Any) -> None:
    assert exposure(host, AGENT_UNIT) < EXPOSURE_LIMIT
