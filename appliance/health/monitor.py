"""Runs the registry in the background and keeps the last report, so /health stays cheap."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque

from appliance.health.models import CheckResult, HealthReport
from appliance.health.registry import HealthRegistry

log = logging.getLogger(__name__)


class HealthMonitor:
    def __init__(self, registry: HealthRegistry, interval_s: float, history: int = 240) -> None:
        self.registry = registry
        self._interval = interval_s
        self._last: HealthReport | None = None
        self._history: dict[str, deque[CheckResult]] = {}
        self._history_len = history
        self._task: asyncio.Task[None] | None = None

    @property
    def last(self) -> HealthReport | None:
        return self._last

    def history(self, name: str) -> list[CheckResult]:
        return list(self._history.get(name, ()))

    async def run_once(self) -> HealthReport:
        report = await self.registry.run_all()
        for name, result in report.services.items():
            self._history.setdefault(name, deque(maxlen=self._history_len)).append(result)
        self._last = report
        return report

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._loop(), name="health")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.run_once()
            except Exception:  # keep the last report; try again next round
                log.exception("health round failed")
