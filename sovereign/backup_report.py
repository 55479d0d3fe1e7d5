"""What `sovereign backup status|list` says of a host, from its backup runners' state files
(pure: the text of the files in, lines out).

One SSH command prints every state file between markers (`read_command`); `parse_states`
splits that output; `status_lines` turns it into one line per kind with its age and a
problem when a kind failed or is older than its schedule allows; `list_lines` lists what
exists: snapshot and replication bases per dataset, pgBackRest's backups, raft snapshots.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

#: Each kind's state file (the runners' defaults) and the age past which it is stale.
STATE_FILES: dict[str, str] = {
    "snapshots": "/var/lib/sovereign/snapshots/state.json",
    "postgres": "/var/lib/sovereign/backup/postgres/state.json",
    "vault": "/var/lib/sovereign/backup/vault/state.json",
    "replication": "/var/lib/sovereign/replication/state.json",
}
STALE_AFTER: dict[str, timedelta] = {
    "snapshots": timedelta(minutes=45),  # every 15 min
    "postgres": timedelta(hours=3),  # incremental hourly
    "vault": timedelta(hours=3),  # hourly
    "replication": timedelta(hours=1),  # every 15 min by default
}
#: The unit a `backup run` starts for each kind (what its timer starts).
SERVICES: dict[str, str] = {
    "snapshots": "sovereign-snapshots.service",
    "postgres": "sovereign-pgbackrest-backup@incr.service",
    "vault": "sovereign-vault-snapshot.service",
    "replication": "sovereign-replication.service",
}
#: A kind is deployed on a host when its unit file is there.
UNIT_FILES: dict[str, str] = {
    "snapshots": "/etc/systemd/system/sovereign-snapshots.service",
    "postgres": "/etc/systemd/system/sovereign-pgbackrest-backup@.service",
    "vault": "/etc/systemd/system/sovereign-vault-snapshot.service",
    "replication": "/etc/systemd/system/sovereign-replication.service",
}
MARK = "::sovereign-state::"
NOT_DEPLOYED = "NOT-DEPLOYED"


def read_command() -> str:
    """One shell command printing each state file after a marker line (`MISSING` when there is
    none yet, `NOT-DEPLOYED` when the kind's unit is not on the host)."""
    parts = [
        f"echo {shlex.quote(MARK + kind)}; if [ -e {shlex.quote(UNIT_FILES[kind])} ]; then "
        f"cat {shlex.quote(path)} 2>/dev/null || echo MISSING; else echo {NOT_DEPLOYED}; fi"
        for kind, path in STATE_FILES.items()
    ]
    return "; ".join(parts)


State = dict[str, Any] | None


def parse_states(output: str) -> dict[str, State]:
    """kind → its state: None when it never ran; kinds not deployed on the host are left out."""
    found: dict[str, State] = {}
    kind: str | None = None
    lines: list[str] = []
    for line in [*output.splitlines(), MARK]:
        if line.startswith(MARK):
            if kind is not None:
                text = "\n".join(lines).strip()
                if text == NOT_DEPLOYED:
                    kind, lines = line[len(MARK) :] or None, []
                    continue
                try:
                    value = json.loads(text) if text and text != "MISSING" else None
                except ValueError:
                    value = {"unreadable": text[:200]}
                found[kind] = value if isinstance(value, dict) else None
            kind, lines = line[len(MARK) :] or None, []
        else:
            lines.append(line)
    return found


def _when(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _age(then: datetime | None, now: datetime) -> str:
    if then is None:
        return "never"
    seconds = max(0, int((now - then).total_seconds()))
    if seconds < 120:
        return f"{seconds} s ago"
    if seconds < 7200:
        return f"{seconds // 60} min ago"
    if seconds < 172800:
        return f"{seconds // 3600} h ago"
    return f"{seconds // 86400} d ago"


@dataclass(frozen=True)
class KindStatus:
    kind: str
    ok: bool
    text: str


def _last(state: dict[str, Any], run_key: str) -> tuple[dict[str, Any], dict[str, Any]]:
    last = state.get(f"last_{run_key}") or {}
    success = state.get(f"last_{run_key}_success") or {}
    return (last if isinstance(last, dict) else {}), (success if isinstance(success, dict) else {})


def kind_status(kind: str, state: dict[str, Any] | None, now: datetime) -> KindStatus:
    if state is None:
        return KindStatus(kind, False, "never ran (no state file)")
    if "unreadable" in state:
        return KindStatus(kind, False, f"state file unreadable: {state['unreadable']!r}")
    run_key = {"snapshots": "run", "postgres": "backup", "vault": "snapshot"}.get(kind, "run")
    if kind == "snapshots":  # the snapshot runner's own shape (appliance/backup/runner.py)
        last, success = state.get("last_run") or {}, state.get("last_success") or {}
    else:
        last, success = _last(state, run_key)
    finished = _when(success.get("finished") or success.get("started"))
    detail = _detail(kind, state, success)
    problems = []
    if last and not last.get("ok", False):
        failed = last.get("error") or last.get("failed") or "failed"
        problems.append(f"last run failed: {_short(failed)}")
    if finished is None:
        problems.append("no successful run yet")
    elif now - finished > STALE_AFTER[kind]:
        problems.append(f"stale: last success older than {_age(now - STALE_AFTER[kind], now)}")
    text = f"last success {_age(finished, now)}{detail}"
    if problems:
        text += "; " + "; ".join(problems)
    return KindStatus(kind, not problems, text)


def _short(value: object) -> str:
    if isinstance(value, dict):
        value = "; ".join(f"{k}: {v}" for k, v in sorted(value.items()))
    text = str(value)
    return text if len(text) <= 160 else text[:157] + "..."


def _detail(kind: str, state: dict[str, Any], success: dict[str, Any]) -> str:
    if kind == "snapshots":
        return f" ({success.get('taken', 0)} taken, {success.get('destroyed', 0)} destroyed)"
    if kind == "postgres":
        label = success.get("label")
        return f" ({success.get('type', '?')} {label})" if label else ""
    if kind == "vault":
        return f" ({success.get('file')})" if success.get("file") else ""
    datasets = state.get("datasets") or {}
    current = sum(1 for entry in datasets.values() if entry.get("last_success"))
    return f" (to {state.get('target', '?')}, {current}/{len(datasets)} datasets replicated)"


def status_lines(host: str, states: dict[str, State], now: datetime) -> tuple[
    list[str], bool
]:  # fmt: skip
    """One line per kind under the host's name, and whether all are fine. A kind that is not
    deployed on the host (no replication target, no Vault) shows as such, not as a failure."""
    lines, healthy = [host], True
    for kind in STATE_FILES:
        if kind not in states:
            lines.append(f"  {kind:<12} {'-':<8} not deployed on this host")
            continue
        status = kind_status(kind, states[kind], now)
        mark = "ok" if status.ok else "PROBLEM"
        lines.append(f"  {kind:<12} {mark:<8} {status.text}")
        healthy = healthy and status.ok
    return lines, healthy


def list_lines(host: str, states: dict[str, State]) -> list[str]:
    """What backups exist, as the runners last saw them."""
    lines = [host]
    info = (states.get("postgres") or {}).get("info") or {}
    counts, latest = info.get("backups") or {}, info.get("latest") or {}
    if counts:  # the postgres runner's summary of `pgbackrest info` (pgbackrest_info.py)
        kinds = ", ".join(f"{counts.get(k, 0)} {k}" for k in ("full", "diff", "incr"))
        wal = info.get("wal_archive") or {}
        lines.append(
            f"  postgres     {kinds}; latest {latest.get('type', '?')} {latest.get('label', '?')}"
            f" ({(latest.get('size') or 0) / 1e6:.1f} MB); WAL {wal.get('min', '?')} to "
            f"{wal.get('max', '?')}"
        )
    vault = states.get("vault") or {}
    for name in vault.get("snapshots") or []:
        lines.append(f"  vault        {name}")
    replication = states.get("replication") or {}
    for dataset, entry in sorted((replication.get("datasets") or {}).items()):
        success = entry.get("last_success") or {}
        base = success.get("last_snapshot") or "nothing replicated yet"
        lines.append(f"  replication  {dataset}@{base} on {replication.get('target', '?')}")
    if len(lines) == 1:
        lines.append("  no backups recorded yet")
    return lines


def now_utc() -> datetime:
    return datetime.now(UTC)
