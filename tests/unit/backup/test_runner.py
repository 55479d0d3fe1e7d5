"""The runner against a stand-in for the `zfs` command (the host's CLI, not our code): what it
runs, what it prints, how a failing dataset is reported, and the state file."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from appliance.backup.__main__ import main
from appliance.backup.policy import SnapshotConfig, SnapshotPolicy
from appliance.backup.runner import record_outcome, run_snapshots
from appliance.command import CommandResult, HostCommandError

NOW = datetime(2026, 11, 28, 19, 0, 30, tzinfo=UTC)


class ZfsStandIn:
    """Datasets and snapshots in memory, answering the argv lists the runner sends as zfs-fuse
    does (one snapshot per `zfs snapshot` unless `many`); `broken` datasets fail to list."""

    def __init__(self, datasets: list[str], many: bool = False) -> None:
        self.snapshots: dict[str, dict[str, int]] = {d: {} for d in datasets}
        self.many = many
        self.broken: set[str] = set()
        self.calls: list[list[str]] = []

    def __call__(self, argv: list[str], timeout: float) -> CommandResult:
        self.calls.append(argv)
        verb, args = argv[1], [a for a in argv[2:] if a != "-r"]
        if verb == "get":
            dataset = args[-1]
            if dataset not in self.snapshots or dataset in self.broken:
                raise HostCommandError(f"zfs get: exit 1: cannot open '{dataset}'")
            lines = [f"{dataset}\t1795800000"]
            lines += [f"{dataset}@{n}\t{c}" for n, c in self.snapshots[dataset].items()]
            return CommandResult(tuple(argv), 0, "\n".join(lines) + "\n", "")
        if verb == "snapshot":
            if len(args) > 1 and not self.many:
                raise HostCommandError("zfs snapshot: exit 2: too many arguments")
            for full in args:
                dataset, _, name = full.partition("@")
                self.snapshots[dataset][name] = int(NOW.timestamp())
        elif verb == "destroy":
            dataset, _, name = args[0].partition("@")
            del self.snapshots[dataset][name]
        return CommandResult(tuple(argv), 0, "", "")


def config(**policies: SnapshotPolicy) -> SnapshotConfig:
    return SnapshotConfig(datasets={k.replace("__", "/"): v for k, v in policies.items()})


def test_first_run_takes_due_snapshots_and_a_second_does_nothing() -> None:
    zfs = ZfsStandIn(["tank/nextcloud", "tank/vault"])
    lines: list[str] = []
    cfg = config(
        tank__nextcloud=SnapshotPolicy(frequently=2), tank__vault=SnapshotPolicy(autosnap=False)
    )
    outcome = run_snapshots(cfg, NOW, zfs, lines.append)
    assert outcome.ok and outcome.taken == 4 and outcome.destroyed == 0
    assert lines == [
        f"took tank/nextcloud@autosnap_2026-11-28_19:00:30_{p}"
        for p in ("frequently", "hourly", "daily", "monthly")
    ]
    assert all(len(c) == 3 for c in zfs.calls if c[1] == "snapshot")  # one each (zfs-fuse)
    lines.clear()
    again = run_snapshots(cfg, NOW + timedelta(minutes=5), zfs, lines.append)
    assert (again.taken, again.destroyed, lines) == (0, 0, [])


def test_expired_snapshot_is_destroyed_and_a_hand_made_one_stays() -> None:
    zfs = ZfsStandIn(["tank/postgres"], many=True)
    old = NOW - timedelta(hours=3)
    zfs.snapshots["tank/postgres"] = {
        "manual": int(old.timestamp()),
        "autosnap_2026-11-28_16:00:00_hourly": int(old.timestamp()),
        "autosnap_2026-11-28_17:00:00_hourly": int(old.timestamp()),
        "autosnap_2026-11-28_18:00:00_hourly": int(old.timestamp()),
    }
    lines: list[str] = []
    policy = SnapshotPolicy(hourly=2, daily=0, monthly=0, recursive=True)
    outcome = run_snapshots(config(tank__postgres=policy), NOW, zfs, lines.append, together=True)
    assert lines == [
        "took tank/postgres@autosnap_2026-11-28_19:00:30_hourly (recursive)",
        "destroyed tank/postgres@autosnap_2026-11-28_16:00:00_hourly",
        "destroyed tank/postgres@autosnap_2026-11-28_17:00:00_hourly",
    ]
    assert (outcome.taken, outcome.destroyed) == (1, 2)
    assert set(zfs.snapshots["tank/postgres"]) == {
        "manual",
        "autosnap_2026-11-28_18:00:00_hourly",
        "autosnap_2026-11-28_19:00:30_hourly",
    }
    assert ["zfs", "destroy", "-r", "tank/postgres@autosnap_2026-11-28_16:00:00_hourly"] in (
        zfs.calls
    )


def test_openzfs_takes_a_datasets_snapshots_in_one_atomic_command() -> None:
    zfs = ZfsStandIn(["tank/nextcloud"], many=True)
    run_snapshots(config(tank__nextcloud=SnapshotPolicy()), NOW, zfs, print, together=True)
    takes = [c for c in zfs.calls if c[1] == "snapshot"]
    assert len(takes) == 1 and len(takes[0]) == 5  # hourly, daily, monthly at once


def test_a_failing_dataset_is_named_and_the_others_still_run() -> None:
    zfs = ZfsStandIn(["tank/agent", "tank/vault"])
    zfs.broken.add("tank/agent")
    lines: list[str] = []
    cfg = config(tank__agent=SnapshotPolicy(), tank__vault=SnapshotPolicy())
    outcome = run_snapshots(cfg, NOW, zfs, lines.append)
    assert not outcome.ok and list(outcome.failed) == ["tank/agent"]
    assert lines[0] == "failed tank/agent: zfs get: exit 1: cannot open 'tank/agent'"
    assert outcome.taken == 3 and zfs.snapshots["tank/vault"]


def test_state_file_keeps_the_last_success_through_a_failure(tmp_path: Path) -> None:
    state = tmp_path / "sovereign" / "snapshots.json"
    zfs = ZfsStandIn(["tank/vault"])
    cfg = config(tank__vault=SnapshotPolicy())
    good = run_snapshots(cfg, NOW, zfs, print)
    record_outcome(state, good)
    zfs.broken.add("tank/vault")
    record_outcome(state, run_snapshots(cfg, NOW + timedelta(hours=1), zfs, print))
    data = json.loads(state.read_text())
    assert data["last_run"]["ok"] is False and "tank/vault" in data["last_run"]["failed"]
    assert data["last_success"] == {
        "finished": NOW.isoformat(),
        "taken": 3,
        "destroyed": 0,
        "failed": {},
        "ok": True,
    }
    assert state.stat().st_mode & 0o777 == 0o644


def test_bad_policy_file_exits_2_naming_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    conf = tmp_path / "snapshots.toml"
    conf.write_text('[datasets."tank/vault"]\nhourly = -1\nfrequent_period = 7\n')
    assert main(["snapshots", "--config", str(conf), "--state", str(tmp_path / "s")]) == 2
    err = capsys.readouterr().err
    assert "datasets.tank/vault.hourly" in err and "frequent_period" in err
    assert not (tmp_path / "s").exists()


def test_unreadable_protect_file_prunes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    conf = tmp_path / "snapshots.toml"
    conf.write_text('[datasets."tank/vault"]\nhourly = 2\n')
    protect = tmp_path / "protected.txt"
    protect.mkdir()  # unreadable as a file: replication's needs are unknown
    argv = ["snapshots", "--config", str(conf), "--protect-file", str(protect)]
    assert main([*argv, "--state", str(tmp_path / "s")]) == 1
    assert "protected.txt" in capsys.readouterr().err and not (tmp_path / "s").exists()


def test_skip_missing_leaves_out_datasets_not_there_yet(capsys: pytest.CaptureFixture[str]) -> None:
    from appliance.backup.__main__ import present_only

    config = SnapshotConfig(
        datasets={"tank/replicas/a": SnapshotPolicy(), "tank/replicas/b": SnapshotPolicy()}
    )
    kept = present_only(config, "tank\ntank/replicas\ntank/replicas/a\n")
    assert sorted(kept.datasets) == ["tank/replicas/a"]
    assert "skipped tank/replicas/b: does not exist (yet)" in capsys.readouterr().out
