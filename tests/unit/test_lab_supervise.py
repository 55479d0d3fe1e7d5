"""The lab host supervisor: boots again after a reboot (exit 133), never after a poweroff,
a failure, or a stop request. The loop runs for real against a stand-in `systemd-nspawn`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from sovereign.lab.hosts import find_supervisor_pids, supervisor_argv
from sovereign.lab.manager import host_status
from sovereign.lab.state import HostState, LabState, save_state
from sovereign.lab.supervise import MAX_REBOOTS, REBOOT_STATUS, REBOOT_WINDOW_S, decide
from tests.support import wait_until


@pytest.mark.parametrize(
    ("returncode", "stopping", "restart"),
    [
        (REBOOT_STATUS, False, True),  # systemctl reboot inside the host
        (0, False, False),  # systemctl poweroff
        (1, False, False),  # nspawn failed
        (-9, False, False),  # nspawn killed
        (REBOOT_STATUS, True, False),  # rebooting while `lab down` stops it
        (0, True, False),
    ],
)
def test_only_a_reboot_boots_again(returncode: int, stopping: bool, restart: bool) -> None:
    assert decide(returncode, stopping, [], 1000.0).restart is restart


def test_a_boot_loop_stays_down() -> None:
    now = 1000.0
    loop = [now - i for i in range(MAX_REBOOTS)]
    assert not decide(REBOOT_STATUS, False, loop, now).restart
    assert "boot loop" in decide(REBOOT_STATUS, False, loop, now).reason
    # The same number of reboots spread over a longer time is fine.
    old = [now - REBOOT_WINDOW_S - i for i in range(MAX_REBOOTS)]
    assert decide(REBOOT_STATUS, False, old, now).restart


def test_status_names_a_host_between_two_boots_rebooting() -> None:
    assert host_status(nspawn=True, supervisor=True) == "running"
    assert host_status(nspawn=True, supervisor=False) == "running"
    assert host_status(nspawn=False, supervisor=True) == "rebooting"
    assert host_status(nspawn=False, supervisor=False) == "stopped"


# A stand-in for systemd-nspawn: logs each start, then exits with the next status from `exits`
# (one per line; "term-parent" first signals the supervisor, as `lab down` would mid-reboot;
# "sleep" waits for SIGTERM and exits 133, the worst case for a supervisor being stopped).
FAKE_NSPAWN = """#!/bin/sh
dir=$(dirname "$0")
echo start >> "$dir/starts"
next=$(head -n 1 "$dir/exits"); sed -i 1d "$dir/exits"
case "$next" in
  term-parent) kill -TERM "$PPID"; exit 133 ;;
  sleep) trap 'echo term >> "$dir/starts"; exit 133' TERM; touch "$dir/trapping"
         while :; do sleep 0.05; done ;;
  *) exit "$next" ;;
esac
"""


@pytest.fixture
def lab_host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[LabState, HostState, Path]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "systemd-nspawn"
    fake.write_text(FAKE_NSPAWN)
    fake.chmod(0o755)
    root = tmp_path / "labs" / "unit" / "hosts" / "unit-1" / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "os-release").write_text("ID=debian\n")
    (root / "etc" / "machine-id").write_text(uuid.uuid4().hex + "\n")
    host = HostState(name="unit-1", address="10.99.9.11", root=str(root), disks=[], host_key="k")
    state = LabState(name="unit", subnet="10.99.9.0/24", hosts={"unit-1": host})
    monkeypatch.setenv("SOVEREIGN_LAB_ROOT", str(tmp_path / "labs"))
    save_state(state)
    return state, host, bin_dir


def _supervise(
    state: LabState, host: HostState, bin_dir: Path, exits: list[str]
) -> subprocess.Popen[str]:
    (bin_dir / "exits").write_text("".join(f"{e}\n" for e in exits))
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    return subprocess.Popen(
        supervisor_argv(state, host), env=env, stdout=subprocess.PIPE, text=True
    )


def _starts(bin_dir: Path) -> list[str]:
    path = bin_dir / "starts"
    return path.read_text().split() if path.exists() else []


def test_supervisor_boots_again_after_each_reboot_and_stops_at_poweroff(
    lab_host: tuple[LabState, HostState, Path],
) -> None:
    state, host, bin_dir = lab_host
    proc = _supervise(state, host, bin_dir, ["133", "133", "0"])
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert _starts(bin_dir) == ["start"] * 3
    assert out.count("rebooted: booting again") == 2
    assert "powered off: stays down" in out


def test_supervisor_does_not_boot_a_failed_host_again(
    lab_host: tuple[LabState, HostState, Path],
) -> None:
    state, host, bin_dir = lab_host
    proc = _supervise(state, host, bin_dir, ["1", "133"])
    out, _ = proc.communicate(timeout=30)
    assert _starts(bin_dir) == ["start"]
    assert "nspawn failed (exit 1)" in out


def test_stop_request_during_a_reboot_keeps_the_host_down(
    lab_host: tuple[LabState, HostState, Path],
) -> None:
    state, host, bin_dir = lab_host
    proc = _supervise(state, host, bin_dir, ["term-parent", "0"])
    out, _ = proc.communicate(timeout=30)
    assert _starts(bin_dir) == ["start"]
    assert "while stopping: stays down" in out


def test_sigterm_shuts_nspawn_down_and_the_supervisor_exits(
    lab_host: tuple[LabState, HostState, Path],
) -> None:
    state, host, bin_dir = lab_host
    proc = _supervise(state, host, bin_dir, ["sleep", "0"])
    wait_until(lambda: _starts(bin_dir) == ["start"], 10, "the fake nspawn to start")
    # Only once it catches SIGTERM: before, a loaded machine's signal killed it untrapped.
    wait_until((bin_dir / "trapping").exists, 10, "the fake nspawn to trap SIGTERM")
    assert find_supervisor_pids(host.root) == [proc.pid]
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=30)
    assert _starts(bin_dir) == ["start", "term"]  # nspawn got SIGTERM, nothing booted after
    assert "exit 133 while stopping" in out
    assert find_supervisor_pids(host.root) == []


def test_supervisor_refuses_a_host_that_is_not_in_the_lab(
    lab_host: tuple[LabState, HostState, Path],
) -> None:
    state, host, bin_dir = lab_host
    argv = [sys.executable, "-m", "sovereign.lab.supervise", "--directory=/elsewhere"]
    proc = subprocess.run([*argv, state.name, host.name], capture_output=True, text=True)
    assert proc.returncode == 2
    assert _starts(bin_dir) == []
