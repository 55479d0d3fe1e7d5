from __future__ import annotations

from pathlib import Path

import pytest

from appliance.command import CommandResult, HostCommandError
from appliance.host import HostInfo
from appliance.infrastructure.parse import (
    optional_int,
    parse_docker_ps,
    parse_list_units_json,
    parse_podman_ps,
    parse_show,
)
from appliance.infrastructure.service import InfrastructureService

FIX = Path(__file__).parent / "fixtures"


def text(name: str) -> str:
    return (FIX / name).read_text()


def test_list_units_json() -> None:
    units = parse_list_units_json(text("systemctl-list-units.json"))
    assert [(u.unit, u.active, u.sub) for u in units] == [
        ("postgresql@15-main.service", "active", "running"),
        ("sovereign-agent.service", "active", "running"),
        ("zfs-fuse.service", "failed", "failed"),
    ]
    assert parse_list_units_json("") == []
    with pytest.raises(ValueError):
        parse_list_units_json('{"unit": "x"}')


def test_show_blocks() -> None:
    blocks = parse_show(text("systemctl-show.txt"))
    assert [b["Id"] for b in blocks] == [
        "postgresql@15-main.service",
        "sovereign-agent.service",
        "zfs-fuse.service",
    ]
    assert blocks[1]["NRestarts"] == "2"
    assert blocks[2]["ActiveEnterTimestamp"] == ""


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("41943040", 41943040),
        ("[not set]", None),
        ("18446744073709551615", None),
        ("", None),
        (None, None),
    ],
)
def test_optional_int(raw: str | None, value: int | None) -> None:
    assert optional_int(raw) == value


def test_containers() -> None:
    docker = parse_docker_ps(text("docker-ps.jsonl"))
    assert [(c.name, c.image, c.state) for c in docker] == [
        ("edge-proxy", "nginx:1.27", "running"),
        ("broker", "redpandadata/redpanda:v24.2", "exited"),
    ]
    podman = parse_podman_ps(text("podman-ps.json"))
    assert [(c.runtime, c.name, c.id) for c in podman] == [
        ("podman", "nextcloud", "c0ffee1234567890")
    ]


class FakeRunner:
    def __init__(self, outputs: dict[str, str | Exception]) -> None:
        self.outputs = outputs
        self.calls: list[list[str]] = []

    def __call__(self, argv: list[str], timeout: float) -> CommandResult:
        self.calls.append(argv)
        out = self.outputs[" ".join(argv[:2])]
        if isinstance(out, Exception):
            raise out
        return CommandResult(tuple(argv), 0, out, "")


def host() -> HostInfo:
    return HostInfo("h", "Debian", "6.1", "x86_64", 2, 1, 0.0, 1.0)


def test_units_joins_list_and_show_with_patterns() -> None:
    runner = FakeRunner(
        {
            "systemctl list-units": text("systemctl-list-units.json"),
            "systemctl show": text("systemctl-show.txt"),
        }
    )
    svc = InfrastructureService(["sovereign-*", "zfs*"], 5.0, runner, lambda _: True, host)
    report = svc.units()
    assert report.available
    by_name = {u.unit: u for u in report.units}
    agent = by_name["sovereign-agent.service"]
    assert (agent.main_pid, agent.restarts, agent.memory_bytes, agent.enabled) == (
        905,
        2,
        None,
        "enabled",
    )
    zfs = by_name["zfs-fuse.service"]
    assert (zfs.active, zfs.main_pid, zfs.memory_bytes, zfs.active_since) == (
        "failed",
        None,
        None,
        None,
    )
    assert runner.calls[0][-2:] == ["sovereign-*", "zfs*"]
    assert runner.calls[1][-3:] == [u.unit for u in report.units]


def test_units_without_systemd_is_reported_not_raised() -> None:
    runner = FakeRunner(
        {"systemctl list-units": HostCommandError("System has not been booted with systemd")}
    )
    report = InfrastructureService(["x"], 5.0, runner, lambda _: True, host).units()
    assert not report.available and "booted with systemd" in report.reason
    assert not InfrastructureService(["x"], 5.0, runner, lambda _: False, host).units().available


def test_containers_collects_errors_per_runtime() -> None:
    runner = FakeRunner(
        {
            "podman ps": text("podman-ps.json"),
            "docker ps": HostCommandError("Cannot connect to the Docker daemon"),
        }
    )
    report = InfrastructureService([], 5.0, runner, lambda _: True, host).containers()
    assert report.runtimes == ["podman", "docker"]
    assert [c.name for c in report.containers] == ["nextcloud"]
    assert report.errors == ["docker: Cannot connect to the Docker daemon"]
