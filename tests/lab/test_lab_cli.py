"""`sovereign lab` on a real lab: idempotent up, status, ssh, recovery of a killed host."""

from __future__ import annotations

import os
import signal
import subprocess
import time

from sovereign.lab.hosts import find_nspawn_pids
from sovereign.lab.state import load_state
from tests.lab.conftest import sovereign


def _nat_rules(lab: str) -> int:
    nat = subprocess.run(
        ["iptables", "-t", "nat", "-S", "POSTROUTING"], capture_output=True, text=True, check=True
    ).stdout
    return sum(1 for line in nat.splitlines() if f'"sovereign-lab:{lab}"' in line)


def test_lab_up_again_changes_nothing(lab: str) -> None:
    proc = sovereign("lab", "up", "--hosts", "1", "--disks", "6")
    assert "nothing changed" in proc.stdout
    assert "booting" not in proc.stdout
    assert _nat_rules(lab) == 1


def test_lab_up_removes_duplicated_nat_rule(lab: str) -> None:
    state = load_state(lab)
    assert state is not None
    rule = ["-s", state.subnet, "!", "-d", state.subnet, "-m", "comment",
            "--comment", f"sovereign-lab:{lab}", "-j", "MASQUERADE"]  # fmt: skip
    subprocess.run(["iptables", "-t", "nat", "-A", "POSTROUTING", *rule], check=True)
    assert _nat_rules(lab) == 2
    sovereign("lab", "up")
    assert _nat_rules(lab) == 1


def test_lab_status_lists_running_host(lab: str) -> None:
    proc = sovereign("lab", "status")
    assert f"{lab}-1" in proc.stdout
    assert "running" in proc.stdout


def test_lab_ssh_runs_a_command(lab: str) -> None:
    proc = sovereign("lab", "ssh", f"{lab}-1", "systemctl", "is-system-running")
    assert proc.stdout.strip() in ("running", "degraded")


def test_lab_up_boots_a_killed_host_again(lab: str) -> None:
    state = load_state(lab)
    assert state is not None
    host = state.hosts[f"{lab}-1"]
    for pid in find_nspawn_pids(host.root):
        os.kill(pid, signal.SIGKILL)  # as a crash would: the container's init may linger
    deadline = time.monotonic() + 5
    while find_nspawn_pids(host.root) and time.monotonic() < deadline:
        time.sleep(0.1)
    proc = sovereign("lab", "up")
    assert f"booting host {host.name}" in proc.stdout
    ssh = sovereign("lab", "ssh", host.name, "systemctl", "is-system-running", "--wait")
    assert ssh.stdout.strip() in ("running", "degraded")
