"""A lab host reboots like a real machine: `systemctl reboot` inside it, and it comes back by
itself (its supervisor boots it again), with the appliance healthy, without `lab up`."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from sovereign.lab import hosts
from sovereign.lab.state import load_state
from tests.lab.conftest import Deploys, edge_of, sovereign, ssh


def boot_id(lab: str) -> str:
    return ssh(lab, "cat /proc/sys/kernel/random/boot_id").stdout.strip()


def detailed_health(lab: str) -> dict[str, object] | None:
    try:
        response = edge_of(lab).admin("/health/detailed")
        body: dict[str, object] = response.json()
        return body
    except (httpx.HTTPError, json.JSONDecodeError):
        return None


def back_healthy(health: dict[str, object]) -> bool:
    """Healthy, or every service up but the host vitals: a lab host shares the controller's
    kernel and CPUs, so on a loaded CI machine its load check reads the machine's load, which
    the reboot drill is not about."""
    if health.get("status") == "healthy":
        return True
    services = health.get("services")
    if not isinstance(services, dict):
        return False
    return all(check.get("status") == "up" or name == "host" for name, check in services.items())


def test_rebooted_host_comes_back_healthy_by_itself(lab: str, deploys: Deploys) -> None:
    assert deploys.first.returncode == 0, deploys.first.failure_report()
    state = load_state(lab)
    assert state is not None
    host = state.hosts[f"{lab}-1"]
    before = boot_id(lab)
    supervisor = hosts.find_supervisor_pids(host.root)
    assert supervisor, "the host runs without a supervisor"

    ssh(lab, "systemctl reboot", check=False)
    deadline = time.monotonic() + 120
    health: dict[str, object] | None = None
    while time.monotonic() < deadline:
        probe = ssh(lab, "cat /proc/sys/kernel/random/boot_id", check=False)
        if probe.returncode == 0 and probe.stdout.strip() not in ("", before):
            health = detailed_health(lab)
            if health is not None and back_healthy(health):
                break
        time.sleep(2)
    else:
        journal = ssh(lab, "journalctl -b -u sovereign-agent --no-pager -n 30", check=False)
        pytest.fail(
            f"the host did not come back healthy within 120 s; last health: {health}\n"
            f"agent journal:\n{journal.stdout}"
        )

    # Same supervisor, a new boot; nobody ran `lab up`.
    assert hosts.find_supervisor_pids(host.root) == supervisor
    assert len(hosts.find_nspawn_pids(host.root)) == 1
    assert ssh(lab, "systemctl is-system-running --wait", check=False).stdout.strip() in (
        "running",
        "degraded",
    )
    assert "running" in sovereign("lab", "status").stdout


def test_lab_down_stops_a_host_in_the_middle_of_a_reboot() -> None:
    """A lab of its own: caught between two boots, the host is stopped for good by `lab down`."""
    name = "tdown"
    env = {"SOVEREIGN_LAB": name}
    sovereign("lab", "up", "--hosts", "1", "--disks", "0", env=env)
    try:
        state = load_state(name)
        assert state is not None
        host = state.hosts[f"{name}-1"]
        sovereign("lab", "ssh", host.name, "systemctl", "reboot", check=False, env=env)
        deadline = time.monotonic() + 30
        while not (hosts.find_supervisor_pids(host.root) and not hosts.find_nspawn_pids(host.root)):
            assert time.monotonic() < deadline, "never saw the host between two boots"
            time.sleep(0.005)
        down = sovereign("lab", "down", env=env)
        assert "stopping host" in down.stdout
        time.sleep(5)  # a supervisor that missed the stop would have booted it by now
        assert hosts.find_supervisor_pids(host.root) == []
        assert hosts.find_nspawn_pids(host.root) == []
        assert not Path(f"/sys/class/net/vb-{host.name}").exists()
        links = subprocess.run(["ip", "-br", "link"], capture_output=True, text=True).stdout
        assert f"sv-{name}" not in links
    finally:
        sovereign("lab", "down", check=False, env=env)
