"""The agent's Python API for raising an alert from code, as the seed uses it::

    from appliance.alerting.manager import AlertLevel, get_alert_manager

    alerter = get_alert_manager()
    alerter.send_alert(
        message="CRITICAL: Primary Postgres Connection Failed [ECONNREFUSED]",
        level=AlertLevel.CRITICAL,
        channels=None,
        context={"node": "worker-01", "retry_count": 5},
    )

The alert takes the rules' road: recorded in the history, published on ``sovereign.alerts``
and submitted to the sink (the dispatcher: dedup, grouping, silences; ``channels`` bypasses
the route tree). It is enriched with the time, the host, the service and the caller, and with
the stack trace when sent while an exception is being handled. The same message at the same
level from the same service is one alert (one fingerprint): repeats are deduplicated.
"""

from __future__ import annotations

import json
import logging
import socket
import sys
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from appliance.alerting.evaluation import Outcome
from appliance.alerting.evaluator import Pipeline
from appliance.alerting.history import history_row
from appliance.alerting.models import Alert, AlertLevel, AlertStatus

__all__ = ["AlertLevel", "AlertManager", "get_alert_manager", "set_alert_manager"]

log = logging.getLogger(__name__)

MAX_NAME = 120
MAX_TRACE = 8000
_LOG_LEVEL = {
    AlertLevel.INFO: logging.INFO,
    AlertLevel.WARNING: logging.WARNING,
    AlertLevel.ERROR: logging.ERROR,
    AlertLevel.CRITICAL: logging.CRITICAL,
}


def alert_name(message: str) -> str:
    """The message's first line, bounded: readable, and stable for deduplication."""
    first = message.strip().splitlines()[0] if message.strip() else "alert"
    return first[:MAX_NAME]


def stack_trace() -> str | None:
    """The exception being handled, if any (the tail, when long)."""
    if sys.exc_info()[0] is None:
        return None
    return traceback.format_exc()[-MAX_TRACE:]


def caller(depth: int = 2) -> str:
    """Where send_alert was called from (module:function:line)."""
    frame = sys._getframe(depth)
    return f"{frame.f_globals.get('__name__', '?')}:{frame.f_code.co_name}:{frame.f_lineno}"


def plain(context: Mapping[str, Any]) -> dict[str, Any]:
    """The context as JSON values (anything else as its str), so every sink can store it."""
    loaded: dict[str, Any] = json.loads(json.dumps(dict(context), default=str))
    return loaded


class AlertManager:
    def __init__(
        self,
        pipeline: Pipeline | None,
        service: str = "sovereign-agent",
        host: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._pipeline = pipeline
        self._service = service
        self._host = host or socket.gethostname()
        self._clock = clock

    def send_alert(
        self,
        message: str,
        level: AlertLevel | str = AlertLevel.WARNING,
        channels: Sequence[str] | None = None,
        context: Mapping[str, Any] | None = None,
    ) -> Alert:
        level = AlertLevel(level)
        now = self._clock()
        details = plain(context or {})
        service = str(details.get("service") or self._service)
        labels = {
            "alertname": alert_name(message),
            "severity": level.value,
            "host": self._host,
            "service": service,
        }
        notes = {
            "summary": message,
            "timestamp": datetime.fromtimestamp(now, UTC).isoformat(),
            "host": self._host,
            "service": service,
            "caller": caller(),
        }
        if details:
            notes["context"] = json.dumps(details, sort_keys=True)
        trace = stack_trace()
        if trace is not None:
            notes["stack_trace"] = trace
        alert = Alert(
            labels=labels,
            status=AlertStatus.FIRING,
            severity=level,
            starts_at=now,
            annotations=notes,
            channels=tuple(channels) if channels else None,
            context=details,
        )
        self._send(alert, now)
        return alert

    def record(self, rows: Sequence[Mapping[str, Any]], now: float | None = None) -> bool:
        """History rows (history.history_row) of an alert no rule or send_alert raised: the
        dispatcher's AgentDatabaseDown, written once the database is back. Through the
        evaluator's store, so history times stay in order. False outside the agent."""
        if self._pipeline is None:
            log.warning("alert history (no agent): %s", [dict(r) for r in rows])
            return False
        self._pipeline.store.apply(
            Outcome(), self._clock() if now is None else now, [dict(r) for r in rows]
        )
        return True

    def _send(self, alert: Alert, now: float) -> None:
        if self._pipeline is None:
            # Outside the agent (a script): the log is all there is.
            log.log(_LOG_LEVEL[alert.severity], "alert (no agent): %s", alert.annotations)
            return
        row = history_row(
            now, None, AlertStatus.INACTIVE, alert.status, alert.severity, alert.labels,
            alert.annotations, None, alert.fingerprint,
        )  # fmt: skip
        self._pipeline.store.apply(Outcome(), now, [row])
        payload = {
            **event_payload_of(alert, now),
            "context": alert.context,
        }
        self._pipeline.announce(payload, alert.fingerprint)
        self._pipeline.submit(alert)


def event_payload_of(alert: Alert, now: float) -> dict[str, Any]:
    return {
        "rule_id": None,
        "fingerprint": alert.fingerprint,
        "alertname": alert.name,
        "status": alert.status.value,
        "previous": AlertStatus.INACTIVE.value,
        "severity": alert.severity.value,
        "value": None,
        "labels": alert.labels,
        "annotations": alert.annotations,
        "at": now,
    }


_current: AlertManager | None = None


def set_alert_manager(manager: AlertManager | None) -> None:
    """The agent's runtime installs its manager at build (None again at stop)."""
    global _current
    _current = manager


def get_alert_manager() -> AlertManager:
    """The agent's manager. Outside the agent's process, on a host with the agent's config
    file: one over the agent's database, whose alerts the running agent dispatches
    (appliance/alerting/host.py); elsewhere (no agent here), one that only logs."""
    global _current
    if _current is None:
        from appliance.alerting import host
        from appliance.config import config_file_path

        if not config_file_path().exists():
            return AlertManager(None)
        _current = host.host_alert_manager()
    return _current
