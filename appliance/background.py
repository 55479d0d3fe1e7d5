"""One background task a service starts and stops with the agent: ``start`` runs the loop once
(a second start while it runs does nothing), ``stop`` cancels it and waits until it has
finished, so no loop outlives the runtime that stopped it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from typing import Any


class BackgroundTask:
    def __init__(self, name: str) -> None:
        self.name = name
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self, loop: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Run ``loop()`` on the running event loop unless this task was started already."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(loop(), name=self.name)

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
