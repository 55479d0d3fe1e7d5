"""The destroy-and-rebuild drill (issue 14's "done when"), on a lab of two hosts: the first
replicates to the second.

Known data is written on the appliance (a file with its sha256 in tank/nextcloud, rows in
PostgreSQL, a secret in Vault, an alert rule in the agent's database), the backups and the
replication run, MORE rows are committed afterwards (they come back only through the WAL that
`archive_timeout` archives and the next replication of tank/backups carries off the host),
then the appliance is destroyed (container, root file system, disks), made again empty, and
`sovereign rebuild` brings it back. Asserted: verify passed, every checksum, row, secret and
the rule are equal, the deploy's admin token works again, the controller's keys were not
touched (no new Vault initialisation), no secret is in the command's output, and a second
rebuild onto the host that now holds data is refused. The RTO is printed.

Slow: ~15 minutes (a deploy of two hosts, the rebuild with its deploy and verify).
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from sovereign.lab.state import LabPaths
from sovereign.runner import run_deploy
from tests.lab.conftest import PROJECT_ROOT, deploy_failure, edge_of, sovereign

LAB = os.environ.get("SOVEREIGN_REBUILD_LAB", "trb")
INVENTORY = str(PROJECT_ROOT / "tests" / "lab" / "inventories" / "replication.py")
HOST, BACKUP = f"{LAB}-1", f"{LAB}-2"
RUN = time.strftime("%H%M%S")
SECRET_NAME = f"agent/drill/rebuild-{RUN}"
SELECT_ROWS = f"select n, note from drill where run = '{RUN}' order by n"  # noqa: S608 - digits
DATASETS = ("nextcloud", "postgres", "vault", "backups", "agent")


def on(host: str, command: str, check: bool = True) -> str:
    return sovereign("lab", "ssh", host, command, check=check, env={"SOVEREIGN_LAB": LAB}).stdout


def psql(sql: str) -> str:
    quoted = sql.replace("'", "'\"'\"'")
    return on(HOST, f"cd / && runuser -u postgres -- psql -XAt -d nextcloud -c '{quoted}'")


def cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).with_name("sovereign")), *args],
        input=stdin, capture_output=True, text=True, cwd=PROJECT_ROOT, check=False,
        env={**os.environ, "SOVEREIGN_LAB": LAB},
    )  # fmt: skip


def controller_files() -> dict[str, str]:
    """sha256 of every file of the host's controller directory (CA, Vault keys, AppRoles)."""
    root = LabPaths(LAB).vault_dir(HOST)
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def read_secret() -> dict[str, Any]:
    """The drill's secret, read with the break-glass AppRole (opened with the operator's key),
    as `sovereign vault put-secret` wrote it."""
    from roles.vault.keys import ADMIN_CREDENTIALS, load_init_keys, operator_file
    from sovereign.vault import session, vault_hosts

    target = vault_hosts(INVENTORY, HOST)[0]
    path = operator_file(target.controller_dir, ADMIN_CREDENTIALS)
    assert path is not None
    admin = load_init_keys(path, LabPaths(LAB).operator_age_key)
    with session(target) as client:
        client.auth.approle.login(role_id=admin["role_id"], secret_id=admin["secret_id"])
        try:
            answer = client.secrets.kv.v2.read_secret_version(
                SECRET_NAME, mount_point=target.kv_mount, raise_on_deleted_version=True
            )
        finally:
            client.auth.token.revoke_self()
        return dict(answer["data"]["data"])


def api(method: str, path: str, body: Any = None) -> httpx.Response:
    edge = edge_of(LAB)
    return httpx.request(
        method, f"{edge.url}{path}", json=body, verify=str(edge.ca_cert), timeout=15,
        headers={"Authorization": f"Bearer {edge.admin_token}"},
    )  # fmt: skip


@dataclass
class Drill:
    file_sum: str
    rows_before: list[str]
    rows_after: list[str]
    secret: dict[str, str] = field(repr=False)
    rule: dict[str, Any]
    keys_before: dict[str, str]
    rebuild: subprocess.CompletedProcess[str]
    rto_s: float
    archived_after_s: float


def commit_segment() -> str:
    """The WAL segment the last commit is in (asked right after it)."""
    return psql("select pg_walfile_name(pg_current_wal_lsn())").strip()


def wait_archived(since_host_epoch: float, segment: str, timeout_s: float = 150.0) -> float:
    """Seconds from `since` until PostgreSQL archived `segment` (archive_timeout alone: no
    pg_switch_wal), as pg_stat_archiver reports it."""
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        wal, _, at = (
            psql(
                "select coalesce(last_archived_wal, ''), "
                "coalesce(extract(epoch from last_archived_time), 0) from pg_stat_archiver"
            )
            .strip()
            .partition("|")
        )
        if len(wal) == len(segment) and wal >= segment:  # not a .history or .partial file
            return float(at) - since_host_epoch
        time.sleep(3)
    pytest.fail(f"{segment} (the last commit's) not archived within {timeout_s:.0f} s")


def snapshot_all(name: str) -> None:
    """What the quarter-hour snapshot timer does, now (it takes only snapshots that are due)."""
    on(HOST, " && ".join(f"zfs snapshot tank/{d}@{name}" for d in DATASETS))


def replicate() -> None:
    proc = sovereign("backup", "run", INVENTORY, "--limit", HOST, "--only", "replication",
                     env={"SOVEREIGN_LAB": LAB})  # fmt: skip
    assert f"{HOST}: replication: done in" in proc.stdout, proc.stdout


@pytest.fixture(scope="module")
def drill() -> Iterator[Drill]:
    env = {"SOVEREIGN_LAB": LAB}
    sovereign("lab", "up", "--hosts", "2", "--disks", "6", env=env)
    previous = os.environ.get("SOVEREIGN_LAB")
    os.environ["SOVEREIGN_LAB"] = LAB  # the inventory reads the lab's state
    try:
        sovereign("artifacts", "fetch")
        result = run_deploy(INVENTORY, echo=False)
        assert result.returncode == 0, deploy_failure(result)
        yield run_drill()
    finally:
        if previous is None:
            os.environ.pop("SOVEREIGN_LAB", None)
        else:
            os.environ["SOVEREIGN_LAB"] = previous
        if os.environ.get("SOVEREIGN_KEEP_LAB") != "1":
            sovereign("lab", "down", check=False, env=env)


def run_drill() -> Drill:
    # Known data.
    on(HOST, f"head -c 3000000 /dev/urandom > /tank/nextcloud/drill-{RUN}.bin && sync")
    file_sum = on(HOST, f"sha256sum /tank/nextcloud/drill-{RUN}.bin").split()[0]
    psql("create table if not exists drill (run text, n int, note text)")
    psql(f"insert into drill select '{RUN}', n, md5(n::text) from generate_series(1, 500) n")  # noqa: S608 - RUN is digits
    secret = {"token": secrets.token_urlsafe(24)}
    put = cli("vault", "put-secret", INVENTORY, SECRET_NAME, "--limit", HOST, "--identity",
              str(LabPaths(LAB).operator_age_key), stdin=json.dumps(secret))  # fmt: skip
    assert put.returncode == 0, put.stderr
    rule_body = {
        "name": f"drill-rebuild-{RUN}", "severity": "warning", "service": "host",
        "metric": "cpu_percent", "condition": ">=", "threshold": 101, "labels": {"run": RUN},
    }  # fmt: skip
    made = api("POST", "/api/alerts", rule_body)
    assert made.status_code in (200, 201), made.text
    rule = made.json()
    # The backups and their replication, as the timers would take them.
    snapshot_all(f"drill-{RUN}-1")
    sovereign("backup", "run", INVENTORY, "--limit", HOST, env={"SOVEREIGN_LAB": LAB})
    # RPO: rows committed after the last snapshot and backup; only the WAL brings them back.
    psql(f"insert into drill select '{RUN}', n, 'after' from generate_series(501, 600) n")  # noqa: S608
    committed, segment = float(on(HOST, "date +%s.%N")), commit_segment()
    archived_after = wait_archived(committed, segment)
    on(HOST, f"zfs snapshot tank/backups@drill-{RUN}-2")
    replicate()
    rows_before = psql(SELECT_ROWS).split()
    keys_before = controller_files()
    # The disaster, and a new empty machine at the same address.
    sovereign("lab", "destroy", HOST, env={"SOVEREIGN_LAB": LAB})
    sovereign("lab", "up", "--hosts", "2", "--disks", "6", env={"SOVEREIGN_LAB": LAB})
    assert "absent" in on(HOST, "zpool list tank 2>/dev/null || echo absent")
    started = time.monotonic()
    rebuild = cli("rebuild", INVENTORY, "--host", HOST, "--from", BACKUP, "--identity",
                  str(LabPaths(LAB).operator_age_key))  # fmt: skip
    rto = time.monotonic() - started
    print(rebuild.stdout[-3000:], rebuild.stderr[-3000:])
    print(f"RTO (sovereign rebuild, two-host lab on a shared 2-core machine): {rto:.0f} s; "
          f"last commit archived after {archived_after:.0f} s")  # fmt: skip
    rows_after = psql(SELECT_ROWS).split() if rebuild.returncode == 0 else []
    return Drill(file_sum, rows_before, rows_after, secret, rule, keys_before, rebuild, rto,
                 archived_after)  # fmt: skip


def test_the_rebuild_succeeds_and_verify_passes(drill: Drill) -> None:
    assert drill.rebuild.returncode == 0, drill.rebuild.stdout[-4000:] + drill.rebuild.stderr
    out = drill.rebuild.stdout
    for step in ("preflight: done", "datasets from", "seal key", "PostgreSQL", "whole deploy",
                 f"verify {HOST}: done", "verified: RTO"):  # fmt: skip
        assert step in out, step
    assert drill.rto_s < 15 * 60, f"RTO {drill.rto_s:.0f} s is over the 15 minute target"


def test_every_checksum_row_secret_and_rule_came_back(drill: Drill) -> None:
    assert on(HOST, f"sha256sum /tank/nextcloud/drill-{RUN}.bin").split()[0] == drill.file_sum
    assert len(drill.rows_before) == 600
    assert drill.rows_after == drill.rows_before  # the 100 'after' rows came through the WAL
    assert read_secret() == drill.secret
    rules = api("GET", "/api/alerts")  # the deploy's admin token works again: agent state
    assert rules.status_code == 200, rules.text
    found = [r for r in rules.json()["rules"] if r["id"] == drill.rule["id"]]
    assert len(found) == 1
    for key in ("name", "severity", "metric", "condition", "threshold", "labels"):
        assert found[0][key] == drill.rule[key], key


def test_no_new_vault_initialisation_and_the_keys_untouched(drill: Drill) -> None:
    assert controller_files() == drill.keys_before
    status = json.loads(on(HOST, "bao status -format=json -address=https://127.0.0.1:8200 "
                                 "-ca-cert=/etc/sovereign/vault/tls/ca.crt"))  # fmt: skip
    assert status["initialized"] is True and status["sealed"] is False


def test_no_secret_in_the_output(drill: Drill) -> None:
    seal_key = on(HOST, "base64 -w0 /etc/sovereign/vault/seal.key").strip()
    token = edge_of(LAB).admin_token
    out = drill.rebuild.stdout + drill.rebuild.stderr
    for value in (drill.secret["token"], seal_key, token):
        assert value and value not in out
    assert "AGE-SECRET-KEY" not in out


def test_a_host_with_data_is_refused(drill: Drill) -> None:
    # The dataset's own creation time (not its snapshots': the timer may take some meanwhile).
    before = on(HOST, "zfs get -H -p -o name,value creation tank/nextcloud")
    again = cli("rebuild", INVENTORY, "--host", HOST, "--from", BACKUP, "--identity",
                str(LabPaths(LAB).operator_age_key))  # fmt: skip
    assert again.returncode == 1
    assert "still holds data" in again.stderr and "tank/nextcloud exists" in again.stdout
    assert on(HOST, "zfs get -H -p -o name,value creation tank/nextcloud") == before


def test_committed_work_leaves_the_host_within_5_minutes(drill: Drill) -> None:
    """The off-host RPO on the timers alone (the rebuilt host runs the whole deploy's units):
    a row committed now is in a WAL segment that archive_timeout archives into tank/backups,
    and the fast replication timer snapshots and sends tank/backups every 3 minutes. Measured:
    from the commit to the first replica snapshot on the backup host taken after the segment
    holding it was archived."""
    assert "active" in on(HOST, "systemctl is-active sovereign-replication-fast.timer")
    psql(f"insert into drill values ('{RUN}', 999, 'rpo')")  # noqa: S608 - RUN is digits
    committed, segment = float(on(HOST, "date +%s.%N")), commit_segment()
    archived = committed + wait_archived(committed, segment)
    replica = f"tank/replicas/{HOST}/tank/backups"
    deadline = time.monotonic() + 330
    while time.monotonic() < deadline:
        listing = on(BACKUP, f"zfs get -H -p -o name,value -d 1 creation {replica}")
        after = [int(line.split("\t")[1]) for line in listing.splitlines() if "@" in line]
        if after and max(after) >= archived:
            seen = float(on(BACKUP, "date +%s.%N")) - committed  # polled: up to 5 s late
            taken = min(t for t in after if t >= archived) - committed
            print(
                f"off-host RPO: archived after {archived - committed:.0f} s, in a snapshot "
                f"taken after {taken:.0f} s, seen on the backup host after {seen:.0f} s"
            )
            assert taken <= 300 and seen <= 305
            return
        time.sleep(5)
    pytest.fail("no replica snapshot of tank/backups holding the commit within 330 s")
