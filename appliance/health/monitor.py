"""Runs the registry in the background and keeps the last report, so /health stays cheap.

Every ``interval_s`` all checks run; in between, checks that are not up run again every
``retry_interval_s`` (Nagios' retry interval), so a service that comes back shows healthy
within seconds, not a full interval later. Each change of a check's state writes one
structured journal line (appliance.health.journal).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable

from appliance.background import BackgroundTask
from appliance.health.journal import log_transition
from appliance.health.models import CheckResult, HealthReport, ServiceStatus
from appliance.health.registry import HealthRegistry

log = logging.getLogger(__name__)


class HealthMonitor:
    def __init__(
        self,
        registry: HealthRegistry,
        interval_s: float,
        history: int = 240,
        retry_interval_s: float | None = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.registry = registry
        self._interval = interval_s
        self._retry = retry_interval_s if retry_interval_s else interval_s
        self._clock = clock
        self._last: HealthReport | None = None
        self._last_full_at: float | None = None
        self._history: dict[str, deque[CheckResult]] = {}
        self._history_len = history
        self._task = BackgroundTask("health")

    @property
    def last(self) -> HealthReport | None:
        return self._last

    def history(self, name: str) -> list[CheckResult]:
        return list(self._history.get(name, ()))

    async def run_once(self) -> HealthReport:
        """Every check."""
        self._last_full_at = self._clock()
        return self._record(await self.registry.run_all())

    async def recheck_failing(self) -> HealthReport | None:
        """Only the checks whose last result was not up; None when all were up."""
        last = self._last
        if last is None:
            return await self.run_once()
        failing = [n for n, r in last.services.items() if r.status is not ServiceStatus.UP]
        if not failing:
            return None
        return self._record(await self.registry.run(failing, earlier=last))

    def _record(self, report: HealthReport) -> HealthReport:
        previous = self._last.services if self._last is not None else {}
        for name, result in report.services.items():
            before = previous.get(name)
            if before is result:
                continue  # kept from the earlier round, not run again
            log_transition(before, result)
            self._history.setdefault(name, deque(maxlen=self._history_len)).append(result)
        self._last = report
        return report

    def start(self) -> None:
        self._task.start(self._loop)

    async def stop(self) -> None:
        await self._task.stop()

    async def tick(self) -> HealthReport | None:
        """One wake-up of the loop: every check when the interval is up, else the failing
        ones; None when nothing was due."""
        if self._last_full_at is None or self._clock() - self._last_full_at >= self._interval:
            return await self.run_once()
        return await self.recheck_failing()

    async def _loop(self) -> None:
        # Wakes every retry interval (cheap: nothing runs while all is up and no round is
        # due), so a failure found by any round is retried without waiting for the next one.
        while True:
            full_due = (self._last_full_at or 0.0) + self._interval - self._clock()
            await asyncio.sleep(max(0.0, min(self._retry, full_due)))
            try:
                await self.tick()
            except Exception:  # keep the last report; try again next round
                log.exception("health round failed")
