"""`sovereign backup status|list|run INVENTORY`: the backups of each host, over the SSH
connection the deploy uses (pinned host keys).

status  one line per kind (snapshots, PostgreSQL, Vault, replication): the last success, its
        age, and a problem when the last run failed or the last success is older than the
        kind's schedule allows; exit 1 when any host has a problem.
list    what exists: PostgreSQL backups, raft snapshots, the replicated base per dataset.
run     start the backup units now, in order (PostgreSQL, Vault, snapshots, replication, then
        tank/backups snapshotted and sent at once where its own replication timer is deployed,
        so the backups just taken leave the host), each step with its time; a failed step
        shows its journal and the run goes on with the next host. The snapshots step takes
        what is due: files written since the last frequent snapshot leave with the next one.
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable, Sequence

from appliance.backup.report import STATE_FILES
from sovereign.agent import HostResult, Runner, run_over_ssh
from sovereign.backup_report import (
    SERVICES,
    Found,
    list_lines,
    now_utc,
    parse_states,
    read_command,
    status_lines,
)
from sovereign.inventory import InventoryHost

Say = Callable[[str], None]
KINDS = tuple(STATE_FILES)
#: `backup run`'s order: the database and Vault backups first (into tank/backups), then the
#: snapshots and the replication that carry them off the host.
RUN_ORDER = ("postgres", "vault", "snapshots", "replication")
#: tank/backups' own replication (roles/replication): it snapshots that dataset now, so what
#: the run just backed up leaves the host even when no snapshot was due.
FAST_REPLICATION = "sovereign-replication-fast.service"


def _as_root(command: str, host: InventoryHost) -> str:
    user = host.data.get("ssh_user")
    return command if not user or user == "root" else f"sudo -n sh -c {shlex.quote(command)}"


def read_states(host: InventoryHost, run: Runner) -> dict[str, Found]:
    result = run(host, _as_root(read_command(), host))
    return parse_states(result.stdout)


def status(hosts: Sequence[InventoryHost], echo: Say, run: Runner = run_over_ssh) -> bool:
    healthy = True
    now = now_utc()
    for host in hosts:
        lines, ok = status_lines(host.name, read_states(host, run), now)
        for line in lines:
            echo(line)
        healthy = healthy and ok
    return healthy


def listing(hosts: Sequence[InventoryHost], echo: Say, run: Runner = run_over_ssh) -> None:
    for host in hosts:
        for line in list_lines(host.name, read_states(host, run)):
            echo(line)


def run_now(
    hosts: Sequence[InventoryHost],
    kinds: Sequence[str],
    echo: Say,
    run: Runner = run_over_ssh,
    clock: Callable[[], float] = time.monotonic,
) -> bool:
    """Start each kind's unit on each host (a oneshot: `systemctl start` returns when it is
    done); kinds not deployed on a host are skipped with a line saying so."""
    ok = True
    for host in hosts:
        deployed = read_states(host, run)
        for kind in (k for k in RUN_ORDER if k in kinds):
            if kind not in deployed:
                echo(f"{host.name}: {kind}: not deployed here, skipped")
                continue
            unit = SERVICES[kind]
            echo(f"{host.name}: {kind}: starting {unit} ...")
            started = clock()
            result: HostResult = run(host, _as_root(f"systemctl start {shlex.quote(unit)}", host))
            took = clock() - started
            if result.returncode == 0:
                echo(f"{host.name}: {kind}: done in {took:.1f} s")
                if kind == "replication":
                    ok = _replicate_backups_now(host, echo, run, clock) and ok
                continue
            ok = False
            echo(f"{host.name}: {kind}: FAILED after {took:.1f} s (exit {result.returncode})")
            journal = run(
                host,
                _as_root(f"journalctl -u {shlex.quote(unit)} -n 15 -o cat --no-pager", host),
            )
            for line in journal.stdout.splitlines():
                echo(f"{host.name}:   {line}")
    return ok


def _replicate_backups_now(
    host: InventoryHost, echo: Say, run: Runner, clock: Callable[[], float]
) -> bool:
    """Start the fast replication where it is deployed (a fresh snapshot of tank/backups,
    sent); True where it is not."""
    unit = shlex.quote(FAST_REPLICATION)
    started = clock()
    result = run(host, _as_root(
        f"if [ -e /etc/systemd/system/{unit} ]; then systemctl start {unit}; else echo ABSENT; fi",
        host,
    ))  # fmt: skip
    if "ABSENT" in result.stdout:
        return True
    took = clock() - started
    if result.returncode == 0:
        echo(f"{host.name}: replication: tank/backups snapshotted and sent now in {took:.1f} s")
        return True
    echo(f"{host.name}: replication: {FAST_REPLICATION} FAILED after {took:.1f} s")
    return False
