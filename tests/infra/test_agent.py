"""The agent role's outcome: a hardened unit, running as its own user, answering on its port."""

from __future__ import annotations

import json
from typing import Any

import pytest

from roles.agent import UNIT
from roles.agent.settings import AgentRoleSettings, resolve_listen_address
from roles.zfs import resolve_settings
from roles.zfs.backends import parse_backend


@pytest.fixture
def agent(host_data: dict[str, Any]) -> AgentRoleSettings:
    return AgentRoleSettings.model_validate(host_data.get("agent") or {})


@pytest.fixture
def url(agent: AgentRoleSettings, host_data: dict[str, Any]) -> str:
    return f"http://{resolve_listen_address(agent, host_data.get('ssh_hostname'))}:{agent.port}"


def test_unit_enabled_and_running(host: Any) -> None:
    service = host.service(UNIT)
    assert service.is_enabled
    assert service.is_running


def test_runs_as_its_own_user(host: Any) -> None:
    pid = host.check_output(f"systemctl show -p MainPID --value {UNIT}")
    assert pid != "0"
    assert host.check_output(f"ps -o user= -p {pid}") == "sovereign"


def test_listens_on_its_port(host: Any, agent: AgentRoleSettings, url: str) -> None:
    address = url.split("//", 1)[1]
    assert host.socket(f"tcp://{address}").is_listening


def test_health_detailed_reports_pools_up(
    host: Any, url: str, host_data: dict[str, Any], host_name: str
) -> None:
    body = json.loads(host.check_output(f"curl -sf --max-time 10 {url}/health/detailed"))
    assert body["status"] in ("healthy", "degraded", "unhealthy")
    services = body["services"]
    for name in ("agent", "zfs", "postgres", "broker"):
        assert services[name]["status"] == "up", (name, services.get(name))
        assert services[name]["latency_ms"] >= 0
    storage = resolve_settings(
        host_data.get("storage"), host_data.get("lab_disks"),
        parse_backend(host_data.get("zfs_backend"), host_name), host_name,
    )  # fmt: skip
    for pool in storage.pools:
        assert services["zfs"]["details"]["pools"][pool.name] == "ONLINE"


def test_config_readable_by_the_agent_only(host: Any) -> None:
    conf = host.file("/etc/sovereign/agent.toml")
    assert (conf.user, conf.group, conf.mode) == ("root", "sovereign", 0o640)


@pytest.mark.parametrize(
    ("prop", "value"),
    [
        ("User", "sovereign"),
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
    assert host.check_output(f"systemctl show -p {prop} --value {UNIT}") == value
