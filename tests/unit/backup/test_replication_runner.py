"""The replication runner end to end through the real replica shell, with stand-ins for the
host's `zfs` and for `ssh` (tests/unit/backup/standins): first run full, then incremental,
the protect file and the state file, and a replica that moved on refused, not rolled back."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from appliance.backup import replica_shell

STANDINS = Path(__file__).parent / "standins"
PREFIX = "tank/replicas/nas1"


class Host:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.state = tmp / "zfs.json"
        self.write({"datasets": {"tank/a": [["s1", 1], ["s2", 2]], "tank/b": []}, "plain": []})
        self.config = tmp / "replication.json"
        self.config.write_text(
            json.dumps({"target": "10.0.0.2", "datasets": ["tank/a", "tank/b"], "key": "k"})
        )

    def read(self) -> dict[str, Any]:
        return dict(json.loads(self.state.read_text()))

    def write(self, state: dict[str, Any]) -> None:
        self.state.write_text(json.dumps(state))

    def snapshot(self, dataset: str, name: str, epoch: int) -> None:
        state = self.read()
        state["datasets"][dataset].append([name, epoch])
        self.write(state)

    def run(self) -> subprocess.CompletedProcess[str]:
        return self.run_with()

    def run_with(self, *extra: str) -> subprocess.CompletedProcess[str]:
        env = {
            **os.environ,
            "PATH": f"{STANDINS}:{os.environ['PATH']}",
            "ZFS_STANDIN_STATE": str(self.state),
            "REPLICA_SHELL": replica_shell.__file__,
            "REPLICA_PREFIX": PREFIX,
        }
        argv = [sys.executable, "-m", "appliance.backup.replication", "--config",
                str(self.config), "--state", str(self.tmp / "state.json"), "--protect-file",
                str(self.tmp / "protected.txt"), *extra]  # fmt: skip
        return subprocess.run(argv, capture_output=True, text=True, env=env, check=False)

    def replica(self, dataset: str) -> list[str]:
        return [name for name, _ in self.read()["datasets"].get(f"{PREFIX}/{dataset}", [])]


@pytest.fixture
def host(tmp_path: Path) -> Host:
    return Host(tmp_path)


def test_full_then_incremental_then_current(host: Host) -> None:
    first = host.run()
    assert first.returncode == 0, first.stderr
    assert host.replica("tank/a") == ["s1", "s2"]
    assert "tank/a: full up to s2" in first.stdout
    assert "tank/b: no snapshot to send yet" in first.stdout
    assert (host.tmp / "protected.txt").read_text() == "tank/a@s2\n"
    assert host.read()["props"][f"{PREFIX}/tank/a"] == "readonly=on"

    host.snapshot("tank/a", "s3", 3)
    host.snapshot("tank/a", "s4", 4)
    host.snapshot("tank/b", "t1", 3)
    second = host.run()
    assert second.returncode == 0, second.stderr
    assert host.replica("tank/a") == ["s1", "s2", "s3", "s4"]
    assert host.replica("tank/b") == ["t1"]
    assert "tank/a: sending -I tank/a@s2 tank/a@s4" in second.stdout
    assert (host.tmp / "protected.txt").read_text() == "tank/a@s4\ntank/b@t1\n"
    sent = json.loads((host.tmp / "state.json").read_text())["datasets"]["tank/a"]
    assert sent["last_success"]["kind"] == "incremental"
    assert sent["last_success"]["bytes"] > 3_000_000  # streamed through, counted

    third = host.run()
    assert "tank/a: current at s4" in third.stdout and third.returncode == 0
    state = json.loads((host.tmp / "state.json").read_text())
    assert state["last_run"]["ok"] is True and state["target"] == "10.0.0.2"
    assert state["datasets"]["tank/a"]["last_success"]["last_snapshot"] == "s4"
    assert state["datasets"]["tank/a"]["last_success"]["kind"] == "current"


def test_a_replica_that_moved_on_is_refused_and_kept(host: Host) -> None:
    assert host.run().returncode == 0
    state = host.read()
    state["datasets"][f"{PREFIX}/tank/a"].append(["foreign", 9])  # written on the backup host
    host.write(state)
    host.snapshot("tank/a", "s3", 3)
    run = host.run()
    assert run.returncode == 1
    assert "failed tank/a: refused: the replica has 1 snapshot(s) newer" in run.stdout
    assert host.replica("tank/a") == ["s1", "s2", "foreign"]  # nothing rolled back
    saved = json.loads((host.tmp / "state.json").read_text())
    assert saved["last_run"]["ok"] is False
    assert "tank/a" in saved["last_run"]["failed"]
    assert saved["last_run_success"]["ok"] is True  # the first run's
    assert "refused" in saved["datasets"]["tank/a"]["last_error"]["reason"]
    assert saved["datasets"]["tank/a"]["last_success"]["last_snapshot"] == "s2"
    assert (host.tmp / "protected.txt").read_text() == "tank/a@s2\n"  # the base stays


def test_a_bad_config_names_the_field(host: Host) -> None:
    host.config.write_text(json.dumps({"target": "10.0.0.2", "datasets": []}))
    run = host.run()
    assert run.returncode == 2 and "datasets" in run.stderr
