"""`sovereign backup status|list|run INVENTORY`: the backups of each host, over the SSH
connection the deploy uses (pinned host keys).

status  one line per kind (snapshots, PostgreSQL, Vault, replication): the last success, its
        age, and a problem when the last run failed or the last success is older than the
        kind's schedule allows; exit 1 when any host has a problem.
list    what exists: PostgreSQL backups, raft snapshots, the replicated base per dataset.
run     start the backup units now, in order (snapshots, PostgreSQL, Vault, replication: the
        replication then carries the new snapshots), each step with its time; a failed step
        shows its journal and the run goes on with the next host.
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
        for kind in (k for k in KINDS if k in kinds):
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
