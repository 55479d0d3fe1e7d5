"""Each backup kind's state, judged the same way by the agent (/health/detailed, metrics,
alerts) and by `sovereign backup status`: the runners' state files in, a status out (pure).

Kinds: `snapshots` (appliance/backup/runner.py), `postgres` (postgres_runner.py), `vault`
(vault_snapshot.py), `replication` (replication.py). A kind is fine when its last run did not
fail and its last success is younger than its schedule allows (STALE_AFTER).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
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
#: A kind is deployed on a host when its unit file is there.
UNIT_FILES: dict[str, str] = {
    "snapshots": "/etc/systemd/system/sovereign-snapshots.service",
    "postgres": "/etc/systemd/system/sovereign-pgbackrest-backup@.service",
    "vault": "/etc/systemd/system/sovereign-vault-snapshot.service",
    "replication": "/etc/systemd/system/sovereign-replication.service",
}


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


def parse_state(text: str) -> dict[str, Any]:
    """A state file's content: its JSON object, or an `unreadable` marker (a half-written or
    foreign file is a problem to report, not a crash)."""
    try:
        value = json.loads(text)
    except ValueError:
        return {"unreadable": text[:200]}
    return value if isinstance(value, dict) else {"unreadable": text[:200]}


@dataclass(frozen=True)
class KindStatus:
    kind: str
    ok: bool
    text: str
    last_success: datetime | None = None
    problems: tuple[str, ...] = field(default_factory=tuple)


def _last(state: dict[str, Any], run_key: str) -> tuple[dict[str, Any], dict[str, Any]]:
    last = state.get(f"last_{run_key}") or {}
    success = state.get(f"last_{run_key}_success") or {}
    return (last if isinstance(last, dict) else {}), (success if isinstance(success, dict) else {})


def kind_status(
    kind: str, state: dict[str, Any] | None, now: datetime, deployed_at: datetime | None = None
) -> KindStatus:
    """`deployed_at`: when the kind's unit was installed; a kind that has not run yet is fine
    for one schedule period after that (its timer is waiting), a problem after."""
    if state is None:
        if deployed_at is not None and now - deployed_at <= STALE_AFTER[kind]:
            return KindStatus(
                kind, True, f"waiting for its first run (deployed {_age(deployed_at, now)})"
            )
        why = "never ran (no state file)"
        return KindStatus(kind, False, why, problems=(why,))
    if "unreadable" in state:
        why = f"state file unreadable: {state['unreadable']!r}"
        return KindStatus(kind, False, why, problems=(why,))
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
    return KindStatus(kind, not problems, text, finished, tuple(problems))


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
