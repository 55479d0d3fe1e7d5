"""The agent's `backups` health check on real state files written by the runners' own writer
(appliance/backup/state_file.py): kinds not deployed are left out, a failed or stale kind
degrades the appliance (warning, not critical), and the metrics say the same."""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from prometheus_client.core import Metric

from api.prometheus import backup_metrics
from appliance.backup.state_file import record
from appliance.health.backups import BackupsCheck
from appliance.health.models import Level, Probe, ServiceStatus

NOW = datetime(2026, 11, 28, 22, 0, tzinfo=UTC)
KINDS = ("snapshots", "postgres", "vault", "replication")


def at(**delta: float) -> str:
    return (NOW - timedelta(**delta)).isoformat(timespec="seconds")


def check(tmp: Path, deployed: tuple[str, ...]) -> BackupsCheck:
    states = {k: str(tmp / "state" / f"{k}.json") for k in KINDS}
    units = {k: str(tmp / "units" / f"{k}.service") for k in KINDS}
    (tmp / "units").mkdir(exist_ok=True)
    installed = (NOW - timedelta(days=1)).timestamp()  # long enough for a first run
    for kind in deployed:
        Path(units[kind]).write_text("[Service]\n")
        os.utime(units[kind], (installed, installed))
    return BackupsCheck(states, units, clock=lambda: NOW)


def probe(c: BackupsCheck) -> Probe:
    return asyncio.run(c.probe())


def test_fresh_backups_are_up(tmp_path: Path) -> None:
    c = check(tmp_path, ("postgres", "vault"))
    record(tmp_path / "state" / "postgres.json", "backup", {"ok": True, "finished": at(minutes=20)})
    record(tmp_path / "state" / "vault.json", "snapshot", {"ok": True, "finished": at(minutes=50)})
    found = probe(c)
    assert found.status is ServiceStatus.UP
    assert set(found.details) == {"postgres", "vault"}  # snapshots, replication not deployed
    assert found.details["postgres"]["age_s"] == 1200 and found.details["postgres"]["ok"]


def test_a_failed_or_stale_kind_degrades_with_a_warning(tmp_path: Path) -> None:
    c = check(tmp_path, ("postgres", "vault", "replication"))
    record(tmp_path / "state" / "postgres.json", "backup", {"ok": True, "finished": at(hours=1)})
    record(
        tmp_path / "state" / "postgres.json",
        "backup",
        {"ok": False, "finished": at(minutes=5), "error": "archive-push: repo full"},
    )
    record(tmp_path / "state" / "vault.json", "snapshot", {"ok": True, "finished": at(hours=7)})
    found = probe(c)
    assert found.status is ServiceStatus.DEGRADED and found.level is Level.WARNING
    assert "postgres: last run failed: archive-push: repo full" in found.message
    assert "vault: stale" in found.message
    assert found.details["replication"]["problems"] == ["never ran (no state file)"]
    assert found.details["postgres"]["last_success"] == at(hours=1)

    metrics: dict[str, Metric] = {m.name: m for m in backup_metrics(found.details)}
    ok = {s.labels["kind"]: s.value for s in metrics["appliance_backup_ok"].samples}
    assert ok == {"postgres": 0.0, "vault": 0.0, "replication": 0.0}
    last = metrics["appliance_backup_last_success_timestamp_seconds"].samples
    assert {s.labels["kind"]: s.value for s in last}["postgres"] == (
        NOW - timedelta(hours=1)
    ).timestamp()


def test_an_unreadable_state_file_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    c = check(tmp_path, ("snapshots",))
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "snapshots.json").write_text('{"last_run": ')
    found = probe(c)
    assert found.status is ServiceStatus.DEGRADED
    assert "state file unreadable" in found.message


def test_a_kind_just_deployed_waits_for_its_first_run(tmp_path: Path) -> None:
    c = check(tmp_path, ("replication",))
    just = (NOW - timedelta(minutes=5)).timestamp()
    os.utime(tmp_path / "units" / "replication.service", (just, just))
    found = probe(c)
    assert found.status is ServiceStatus.UP
    assert found.details["replication"] == {
        "ok": True, "last_success": None, "age_s": None, "problems": [],
    }  # fmt: skip


def test_nothing_deployed_is_up_and_says_so(tmp_path: Path) -> None:
    found = probe(check(tmp_path, ()))
    assert (found.status, found.message) == (ServiceStatus.UP, "no backups deployed on this host")
