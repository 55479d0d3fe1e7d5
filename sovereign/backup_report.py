"""What `sovereign backup status|list` says of a host, from its backup runners' state files
(pure: the text of the files in, lines out).

One SSH command prints every state file between markers (`read_command`); `parse_states`
splits that output; `status_lines` turns it into one line per kind with its age and a
problem when a kind failed or is older than its schedule allows; `list_lines` lists what
exists: snapshot and replication bases per dataset, pgBackRest's backups, raft snapshots.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from appliance.backup.report import STATE_FILES, UNIT_FILES, kind_status, parse_state

#: The unit a `backup run` starts for each kind (what its timer starts).
SERVICES: dict[str, str] = {
    "snapshots": "sovereign-snapshots.service",
    "postgres": "sovereign-pgbackrest-backup@incr.service",
    "vault": "sovereign-vault-snapshot.service",
    "replication": "sovereign-replication.service",
}
MARK = "::sovereign-state::"
NOT_DEPLOYED = "NOT-DEPLOYED"
DEPLOYED = "DEPLOYED-AT "  # the unit file's mtime: when the kind was deployed


def read_command() -> str:
    """One shell command printing each state file after a marker line (`MISSING` when there is
    none yet, `NOT-DEPLOYED` when the kind's unit is not on the host)."""
    parts = [
        f"echo {shlex.quote(MARK + kind)}; if [ -e {shlex.quote(UNIT_FILES[kind])} ]; then "
        f"echo {DEPLOYED}$(stat -c %Y {shlex.quote(UNIT_FILES[kind])}); "
        f"cat {shlex.quote(path)} 2>/dev/null || echo MISSING; else echo {NOT_DEPLOYED}; fi"
        for kind, path in STATE_FILES.items()
    ]
    return "; ".join(parts)


State = dict[str, Any] | None


@dataclass(frozen=True)
class Found:
    """A kind deployed on the host: its state (None: it never ran) and when its unit came."""

    state: State
    deployed_at: datetime | None = None


def _found(lines: list[str]) -> Found | None:
    deployed_at = None
    if lines and lines[0].startswith(DEPLOYED):
        epoch = lines.pop(0)[len(DEPLOYED) :].strip()
        deployed_at = datetime.fromtimestamp(int(epoch), UTC) if epoch.isdigit() else None
    text = "\n".join(lines).strip()
    if text == NOT_DEPLOYED:
        return None
    state = parse_state(text) if text and text != "MISSING" else None
    return Found(state, deployed_at)


def parse_states(output: str) -> dict[str, Found]:
    """kind → what the host has of it; kinds not deployed on the host are left out."""
    found: dict[str, Found] = {}
    kind: str | None = None
    lines: list[str] = []
    for line in [*output.splitlines(), MARK]:
        if line.startswith(MARK):
            if kind is not None and (entry := _found(lines)) is not None:
                found[kind] = entry
            kind, lines = line[len(MARK) :] or None, []
        else:
            lines.append(line)
    return found


def status_lines(host: str, states: dict[str, Found], now: datetime) -> tuple[
    list[str], bool
]:  # fmt: skip
    """One line per kind under the host's name, and whether all are fine. A kind that is not
    deployed on the host (no replication target, no Vault) shows as such, not as a failure."""
    lines, healthy = [host], True
    for kind in STATE_FILES:
        if kind not in states:
            lines.append(f"  {kind:<12} {'-':<8} not deployed on this host")
            continue
        status = kind_status(kind, states[kind].state, now, states[kind].deployed_at)
        mark = "ok" if status.ok else "PROBLEM"
        lines.append(f"  {kind:<12} {mark:<8} {status.text}")
        healthy = healthy and status.ok
    return lines, healthy


def list_lines(host: str, found: dict[str, Found]) -> list[str]:
    """What backups exist, as the runners last saw them."""
    lines = [host]
    states = {kind: entry.state or {} for kind, entry in found.items()}
    info = states.get("postgres", {}).get("info") or {}
    counts, latest = info.get("backups") or {}, info.get("latest") or {}
    if counts:  # the postgres runner's summary of `pgbackrest info` (pgbackrest_info.py)
        kinds = ", ".join(f"{counts.get(k, 0)} {k}" for k in ("full", "diff", "incr"))
        wal = info.get("wal_archive") or {}
        lines.append(
            f"  postgres     {kinds}; latest {latest.get('type', '?')} {latest.get('label', '?')}"
            f" ({(latest.get('size') or 0) / 1e6:.1f} MB); WAL {wal.get('min', '?')} to "
            f"{wal.get('max', '?')}"
        )
    vault = states.get("vault", {})
    for name in vault.get("snapshots") or []:
        lines.append(f"  vault        {name}")
    replication = states.get("replication", {})
    for dataset, entry in sorted((replication.get("datasets") or {}).items()):
        success = entry.get("last_success") or {}
        base = success.get("last_snapshot") or "nothing replicated yet"
        lines.append(f"  replication  {dataset}@{base} on {replication.get('target', '?')}")
    if len(lines) == 1:
        lines.append("  no backups recorded yet")
    return lines


def now_utc() -> datetime:
    return datetime.now(UTC)
