"""What the agent writes to the journal about health: one structured line per state change
of a check, and a throttle for errors that repeat while a service is down.

Lines are logfmt (``key=value``, values quoted when they hold spaces) so ``journalctl -u
sovereign-agent | grep check=postgres`` finds them; the same fields ride on the log record
(``record.check`` …) for handlers that keep structure.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping

from appliance.health.models import CheckResult

#: The logger of state changes, so they can be routed or filtered apart from other lines.
TRANSITIONS = logging.getLogger("appliance.health.transitions")


def logfmt(fields: Mapping[str, object]) -> str:
    """``a=1 b="two words"``: values with spaces, quotes or ``=`` are quoted and escaped."""
    parts = []
    for key, value in fields.items():
        text = "" if value is None else str(value)
        if not text or any(c in text for c in ' "=\\\n'):
            text = '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ") + '"'
        parts.append(f"{key}={text}")
    return " ".join(parts)


def state(result: CheckResult) -> str:
    """A check's state as the journal names it: the status, plus the level when the level is
    not what the status implies (``degraded/critical``: serving, but one failure from loss)."""
    implied = {"up": "ok", "degraded": "warning", "down": "critical"}[result.status.value]
    if result.level.value == implied:
        return result.status.value
    return f"{result.status.value}/{result.level.value}"


def log_transition(previous: CheckResult | None, current: CheckResult) -> bool:
    """One line when the check's state changed (or on its first result when that is not up).
    Returns whether a line was written."""
    before = state(previous) if previous is not None else None
    after = state(current)
    if before == after or (before is None and after == "up"):
        return False
    fields = {
        "event": "health_state_change",
        "check": current.name,
        "from": before or "unknown",
        "to": after,
        "level": current.level.value,
        "critical": str(current.critical).lower(),
        "reason": current.message or "ok",
    }
    severity = {"ok": logging.INFO, "warning": logging.WARNING, "critical": logging.ERROR}
    TRANSITIONS.log(
        severity[current.level.value],
        logfmt(fields),
        extra={f"health_{k}": v for k, v in fields.items()},
    )
    return True


class ThrottledLog:
    """Logs the first occurrence of a repeating message at once, then at most one summary per
    ``interval_s`` per key ("... repeated 57 times in the last 30 s"); a key that stays quiet
    for ``interval_s`` starts over. Thread-safe: client libraries call back from their own
    threads.
    """

    def __init__(
        self,
        logger: logging.Logger,
        interval_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._log = logger
        self._interval = interval_s
        self._clock = clock
        self._lock = threading.Lock()
        # key -> (window start, occurrences suppressed since the last line, last message)
        self._seen: dict[str, tuple[float, int, str]] = {}

    def log(self, level: int, key: str, message: str) -> None:
        now = self._clock()
        with self._lock:
            entry = self._seen.get(key)
            if entry is not None and now - entry[0] < self._interval:
                self._seen[key] = (entry[0], entry[1] + 1, message)
                return
            suppressed = entry[1] if entry is not None else 0
            self._seen[key] = (now, 0, message)
        if suppressed:
            self._log.log(
                level,
                "%s (repeated %d more times in the last %.0f s)",
                message,
                suppressed,
                now - entry[0] if entry is not None else 0.0,
            )
        else:
            self._log.log(level, "%s", message)

    def flush(self) -> None:
        """Write the pending summaries now (e.g. when the service is back or at shutdown)."""
        with self._lock:
            pending = [(k, v) for k, v in self._seen.items() if v[1]]
            self._seen.clear()
        for _key, (_start, count, message) in pending:
            self._log.info("%s (repeated %d more times before recovery)", message, count)
