"""`sovereign backup status|list` from the runners' state files: ages, failures, staleness,
kinds not deployed, unreadable files; and `backup run` starting units in order over a
stand-in for the SSH connection (the lab test runs it for real)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from sovereign.agent import HostResult
from sovereign.backup import run_now
from sovereign.backup_report import (
    DEPLOYED,
    MARK,
    NOT_DEPLOYED,
    Found,
    list_lines,
    parse_states,
    read_command,
    status_lines,
)
from sovereign.inventory import InventoryHost

NOW = datetime(2026, 11, 28, 22, 0, tzinfo=UTC)


def ago(**delta: float) -> str:
    return (NOW - timedelta(**delta)).isoformat(timespec="seconds")


def output(deployed: datetime = NOW - timedelta(days=2), **states: Any) -> str:
    """What read_command prints for these kinds (None: no state file; "-": not deployed), each
    deployed kind's unit installed at `deployed`."""
    parts = []
    for kind in ("snapshots", "postgres", "vault", "replication"):
        value = states.get(kind, "-")
        if value == "-":
            parts.append(f"{MARK}{kind}\n{NOT_DEPLOYED}")
            continue
        body = "MISSING" if value is None else json.dumps(value)
        parts.append(f"{MARK}{kind}\n{DEPLOYED}{int(deployed.timestamp())}\n{body}")
    return "\n".join(parts) + "\n"


SNAPSHOTS = {
    "last_run": {"ok": True, "finished": ago(minutes=5), "taken": 2, "destroyed": 1},
    "last_success": {"ok": True, "finished": ago(minutes=5), "taken": 2, "destroyed": 1},
}
POSTGRES = {
    "last_backup": {"ok": True, "type": "incr", "label": "L2", "finished": ago(minutes=30)},
    "last_backup_success": {"ok": True, "type": "incr", "label": "L2", "finished": ago(minutes=30)},
    # as the postgres runner keeps it (appliance/backup/pgbackrest_info.py), captured on a lab host
    "info": {
        "backups": {"diff": 0, "full": 1, "incr": 1},
        "latest": {"label": "L2", "size": 39120244, "type": "incr"},
        "stanza": "main",
        "wal_archive": {"max": "000000010000000000000008", "min": "000000010000000000000001"},
    },
}
REPLICATION = {
    "last_run": {"ok": False, "finished": ago(minutes=2), "failed": {"tank/a": "refused"}},
    "last_run_success": {"ok": True, "finished": ago(minutes=20)},
    "target": "10.0.0.2",
    "datasets": {"tank/a": {"last_success": {"last_snapshot": "s4"}}, "tank/b": {}},
}


def test_the_read_command_names_every_state_file_and_unit() -> None:
    command = read_command()
    assert "/var/lib/sovereign/replication/state.json" in command
    assert "/etc/systemd/system/sovereign-pgbackrest-backup@.service" in command


def test_status_says_age_failure_and_what_is_not_deployed() -> None:
    states = parse_states(output(snapshots=SNAPSHOTS, postgres=POSTGRES, replication=REPLICATION))
    assert set(states) == {"snapshots", "postgres", "replication"}
    lines, healthy = status_lines("nas1", states, NOW)
    assert not healthy
    text = "\n".join(lines)
    assert "snapshots    ok       last success 5 min ago (2 taken, 1 destroyed)" in text
    assert "postgres     ok       last success 30 min ago (incr L2)" in text
    assert "vault        -        not deployed on this host" in text
    assert "replication  PROBLEM  last success 20 min ago (to 10.0.0.2, 1/2 datasets" in text
    assert "last run failed: tank/a: refused" in text


def test_stale_never_and_unreadable_are_problems() -> None:
    stale = {
        "last_snapshot": {"ok": True, "finished": ago(hours=5), "file": "raft-x.snap"},
        "last_snapshot_success": {"ok": True, "finished": ago(hours=5), "file": "raft-x.snap"},
    }
    states = parse_states(output(snapshots=None, vault=stale, postgres="-"))
    states["replication"] = Found({"unreadable": "{half"})
    lines, healthy = status_lines("nas1", states, NOW)
    text = "\n".join(lines)
    assert not healthy
    assert "snapshots    PROBLEM  never ran (no state file)" in text
    assert "vault        PROBLEM  last success 5 h ago (raft-x.snap); stale" in text
    assert "state file unreadable" in text


def test_a_kind_not_run_yet_waits_for_one_schedule_after_its_deploy() -> None:
    fresh = parse_states(output(deployed=NOW - timedelta(minutes=10), replication=None))
    assert fresh["replication"].deployed_at == NOW - timedelta(minutes=10)
    lines, healthy = status_lines("nas1", fresh, NOW)
    assert healthy
    assert "  replication  ok       waiting for its first run (deployed 10 min ago)" in lines
    late = parse_states(output(deployed=NOW - timedelta(hours=2), replication=None))
    lines, healthy = status_lines("nas1", late, NOW)
    assert not healthy and "  replication  PROBLEM  never ran (no state file)" in lines


def test_a_half_written_file_is_unreadable_not_a_crash() -> None:
    states = parse_states(f'{MARK}snapshots\n{{"last_run": \n')
    assert states["snapshots"].state == {"unreadable": '{"last_run":'}


def test_list_names_backups_snapshots_and_replicated_bases() -> None:
    vault = {"snapshots": ["raft-1.snap", "raft-2.snap"]}
    lines = list_lines(
        "nas1", parse_states(output(postgres=POSTGRES, vault=vault, replication=REPLICATION))
    )
    assert (
        "  postgres     1 full, 0 diff, 1 incr; latest incr L2 (39.1 MB); WAL "
        "000000010000000000000001 to 000000010000000000000008"
    ) in lines
    assert "  vault        raft-2.snap" in lines
    assert "  replication  tank/a@s4 on 10.0.0.2" in lines
    assert "  replication  tank/b@nothing replicated yet on 10.0.0.2" in lines
    assert list_lines("nas2", {}) == ["nas2", "  no backups recorded yet"]


def test_run_starts_deployed_units_in_order_and_shows_a_failures_journal() -> None:
    host = InventoryHost("nas1", (), {"ssh_user": "admin"})
    commands: list[str] = []

    def run(_: InventoryHost, command: str) -> HostResult:
        commands.append(command)
        if MARK in command:
            return HostResult("nas1", 0, output(snapshots=SNAPSHOTS, replication=REPLICATION), "")
        if "replication.service" in command and "systemctl start" in command:
            return HostResult("nas1", 1, "", "")
        if "journalctl" in command:
            return HostResult("nas1", 0, "failed tank/a: refused\n", "")
        return HostResult("nas1", 0, "", "")

    said: list[str] = []
    ok = run_now([host], ("replication", "snapshots", "vault"), said.append, run, iter(
        range(100)).__next__)  # fmt: skip
    assert not ok
    starts = [c for c in commands if "systemctl start" in c]
    assert len(starts) == 2 and "sovereign-snapshots.service" in starts[0]
    assert all(c.startswith("sudo -n sh -c") for c in commands)  # not root: sudo
    assert "nas1: vault: not deployed here, skipped" in said
    assert "nas1: replication: FAILED after 1.0 s (exit 1)" in said
    assert "nas1:   failed tank/a: refused" in said


def test_run_takes_the_backups_before_the_snapshots_and_sends_tank_backups_at_once() -> None:
    host = InventoryHost("nas1", (), {"ssh_user": "root"})
    commands: list[str] = []
    states = output(snapshots=SNAPSHOTS, postgres=POSTGRES, replication=REPLICATION)

    def run(_: InventoryHost, command: str) -> HostResult:
        commands.append(command)
        if MARK in command:
            return HostResult("nas1", 0, states, "")
        return HostResult("nas1", 0, "", "")

    said: list[str] = []
    assert run_now([host], ("snapshots", "replication", "postgres"), said.append, run,
                   iter(range(100)).__next__)  # fmt: skip
    starts = [c for c in commands if "systemctl start" in c]
    assert [u for c in starts for u in (
        "pgbackrest", "sovereign-snapshots", "sovereign-replication.service",
        "sovereign-replication-fast") if u in c] == [
        "pgbackrest", "sovereign-snapshots", "sovereign-replication.service",
        "sovereign-replication-fast"]  # fmt: skip
    assert any("tank/backups snapshotted and sent now" in line for line in said)


def test_run_without_the_fast_replication_says_nothing_of_it() -> None:
    host = InventoryHost("nas1", (), {"ssh_user": "root"})

    def run(_: InventoryHost, command: str) -> HostResult:
        if MARK in command:
            return HostResult("nas1", 0, output(replication=REPLICATION), "")
        if "sovereign-replication-fast" in command:
            return HostResult("nas1", 0, "ABSENT\n", "")
        return HostResult("nas1", 0, "", "")

    said: list[str] = []
    assert run_now([host], ("replication",), said.append, run, iter(range(100)).__next__)
    assert not any("tank/backups" in line for line in said)
