"""Snapshots on the lab's zfs-fuse, where Debian's sanoid cannot list and so never prunes: the
deployed timer's service takes the policy's snapshots, and a snapshot beyond its retention is
destroyed while a hand-made one stays (the issue's done-when)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from tests.lab.conftest import Deploys, ssh

SERVICE = "sovereign-snapshots.service"
PYTHON = "/opt/sovereign/agent/bin/python"
DATASET = "tank/agent"
TRIAL = "/root/snapshots-trial.toml"


def snapshot_names(lab: str, dataset: str) -> set[str]:
    out = ssh(lab, f"zfs get -H -p -o name,value -d 1 creation {dataset}").stdout
    return {line.split("\t")[0].partition("@")[2] for line in out.splitlines() if "@" in line}


def autosnap(taken: datetime, period: str) -> str:
    return f"autosnap_{taken.strftime('%Y-%m-%d_%H:%M:%S')}_{period}"


@pytest.fixture(scope="module")
def deployed(lab: str, deploys: Deploys) -> str:
    assert deploys.first.returncode == 0, deploys.first.failure_report()
    return lab


@pytest.fixture
def hand_made(deployed: str) -> Iterator[list[str]]:
    """Three frequent snapshots named 3, 2 and 1 hours ago, then a hand-made one."""
    now = datetime.now(UTC).replace(microsecond=0)
    names = [autosnap(now - timedelta(hours=h), "frequently") for h in (3, 2, 1)]
    names.append("before-upgrade")
    for name in names:
        ssh(deployed, f"zfs snapshot {DATASET}@{name}")
    yield names
    for name in snapshot_names(deployed, DATASET):
        ssh(deployed, f"zfs destroy {DATASET}@{name}", check=False)


def quarter_hour() -> datetime:
    now = datetime.now(UTC)
    return now.replace(minute=now.minute - now.minute % 15, second=0, microsecond=0)


#: systemd's exit status when it could not put a unit's process in its cgroup (EXIT_CGROUP).
CGROUP_STATUS = 219


def exec_status(lab: str) -> int:
    out = ssh(lab, f"systemctl show -p ExecMainStatus --value {SERVICE}", check=False).stdout
    return int(out.strip() or 0)


def start_run(lab: str) -> None:
    """Start the oneshot and wait for its end; a failed run fails the test with the run's own
    words (which dataset, which zfs error) and the pool's state, not only systemctl's."""
    started = ssh(lab, f"systemctl start {SERVICE}", check=False)
    if started.returncode != 0 and exec_status(lab) == CGROUP_STATUS:
        # systemd could not attach the new process to the unit's cgroup ("Failed to attach to
        # cgroup ... No such file or directory"): on the lab's cgroup v1 hybrid, a start right
        # after the previous run's end can race that run's cgroup removal. Nothing of ours
        # ran (exit 219 comes before exec); started again, it runs.
        time.sleep(2)
        started = ssh(lab, f"systemctl start {SERVICE}", check=False)
    if started.returncode != 0:
        why = ssh(lab, f"journalctl -u {SERVICE} -o short-precise --no-pager -n 60; "
                  "cat /var/lib/sovereign/snapshots/state.json; zpool status -x; "
                  "systemctl list-units --no-pager 'sovereign-*'", check=False)  # fmt: skip
        pytest.fail(f"{SERVICE} failed:\n{started.stderr}\n{why.stdout}\n{why.stderr}")


def test_timer_waits_and_the_service_takes_the_policys_snapshots(deployed: str) -> None:
    assert ssh(deployed, "systemctl is-active sovereign-snapshots.timer").stdout.strip() == "active"
    quarter = quarter_hour()
    start_run(deployed)  # oneshot: returns when the run is over
    journal = ssh(deployed, f"journalctl -u {SERVICE} -o cat --no-pager -n 200").stdout
    assert "took tank/nextcloud@autosnap_" in journal and "_frequently" in journal
    # tank/backups (the WAL archive, raft snapshots) is taken too: replication carries it.
    assert "took tank/backups@autosnap_" in journal
    state = json.loads(ssh(deployed, "cat /var/lib/sovereign/snapshots/state.json").stdout)
    assert state["last_run"]["ok"] and state["last_success"] == state["last_run"]
    assert any(n.endswith("_hourly") for n in snapshot_names(deployed, "tank/postgres"))
    # A second run in the same quarter hour has nothing to take (a run that crossed into the
    # next quarter hour may rightly take its frequent snapshots).
    start_run(deployed)
    again = json.loads(ssh(deployed, "cat /var/lib/sovereign/snapshots/state.json").stdout)
    if quarter_hour() == quarter:
        assert again["last_run"]["taken"] == 0


def test_snapshot_beyond_retention_is_destroyed_a_hand_made_one_stays(
    deployed: str, hand_made: list[str]
) -> None:
    ssh(
        deployed,
        f'printf \'[datasets."{DATASET}"]\\nfrequently = 2\\nhourly = 0\\ndaily = 0\\n'
        f"monthly = 0\\nautosnap = false\\n' > {TRIAL}",
    )
    run = ssh(deployed, f"{PYTHON} -m appliance.backup snapshots --config {TRIAL} "
              "--state /root/snapshots-trial-state.json")  # fmt: skip
    oldest, second, newest, manual = hand_made
    assert f"destroyed {DATASET}@{oldest}" in run.stdout
    left = snapshot_names(deployed, DATASET)
    assert oldest not in left and {second, newest, manual} <= left
