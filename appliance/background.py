"""One background loop a service starts and stops with the agent: ``start`` runs the loop once
(a second start while it runs does nothing), ``stop`` ends it and waits until it has
finished, so no loop outlives the runtime that stopped it. ``BackgroundTask`` for a loop on
the event loop (cancelled), ``BackgroundThread`` for one on a thread of its own (its loop
watches ``stopping``)."""

from __future__ import annotations

import asyncio
import contextlib
import threading
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


class BackgroundThread:
    def __init__(self, name: str) -> None:
        self.name = name
        self.stopping = threading.Event()  # the loop ends once this is set
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, loop: Callable[[], None]) -> None:
        """Run ``loop()`` on a daemon thread unless this thread was started already."""
        if self._thread is None:
            self.stopping.clear()
            self._thread = threading.Thread(target=loop, name=self.name, daemon=True)
            self._thread.start()

    def stop(self, timeout_s: float, wake: Callable[[], None] | None = None) -> None:
        """Set ``stopping``, call ``wake`` (for a loop waiting on something else), and wait
        up to ``timeout_s`` for the loop to end."""
        self.stopping.set()
        if wake is not None:
            wake()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout_s)
