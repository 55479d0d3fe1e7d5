"""The `backups` health check: each backup kind deployed on this host (snapshots, PostgreSQL,
Vault, replication), judged from its runner's state file by appliance/backup/report.py, the
same judgement `sovereign backup status` prints on the controller.

Not critical: the appliance serves without a fresh backup, but it is degraded (level warning)
while a kind's last run failed or its last success is older than its schedule allows; the
details carry each kind's last success, age and problems for /health/detailed, the metrics
and the alert rules. A kind whose unit is not on the host is left out.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from appliance.backup.report import (
    STATE_FILES,
    UNIT_FILES,
    KindStatus,
    kind_status,
    parse_state,
)
from appliance.health.models import Level, Probe, ServiceStatus
from appliance.health.registry import BlockingCheck


def read_state(path: Path) -> dict[str, Any] | None:
    """None when the file is missing; an `unreadable` marker when it is not a JSON object."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    except OSError as exc:
        return {"unreadable": f"{type(exc).__name__}: {exc.strerror}"}
    return parse_state(text)


def probe_of(statuses: list[KindStatus], now: datetime) -> Probe:
    details: dict[str, Any] = {
        s.kind: {
            "ok": s.ok,
            "last_success": s.last_success.isoformat() if s.last_success else None,
            "age_s": round((now - s.last_success).total_seconds()) if s.last_success else None,
            "problems": list(s.problems),
        }
        for s in statuses
    }
    if not statuses:
        return Probe(ServiceStatus.UP, "no backups deployed on this host", details)
    bad = [s for s in statuses if not s.ok]
    if not bad:
        return Probe(ServiceStatus.UP, "", details)
    message = "; ".join(f"{s.kind}: {s.problems[0]}" for s in bad)
    return Probe(ServiceStatus.DEGRADED, message, details, level=Level.WARNING)


class BackupsCheck(BlockingCheck):
    name = "backups"
    critical = False

    def __init__(
        self,
        state_files: Mapping[str, str] = STATE_FILES,
        unit_files: Mapping[str, str] = UNIT_FILES,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._state_files = dict(state_files)
        self._unit_files = dict(unit_files)
        self._clock = clock

    def probe_blocking(self) -> Probe:
        now = self._clock()
        statuses = []
        for kind, path in self._state_files.items():
            try:
                installed = Path(self._unit_files[kind]).stat().st_mtime
            except FileNotFoundError:
                continue  # not deployed on this host
            deployed_at = datetime.fromtimestamp(installed, UTC)
            statuses.append(kind_status(kind, read_state(Path(path)), now, deployed_at))
        return probe_of(statuses, now)
