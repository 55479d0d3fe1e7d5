"""Group commit for the delivery worker: outcomes that finish while one batch is being written
go out together in the next, so the database sees one transaction per batch, not per outcome.
A caller hears back only once its own outcome is committed (or the write failed)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")


class GroupCommit(Generic[T]):
    def __init__(self, write: Callable[[Sequence[T]], None]) -> None:
        #: Blocking: runs in a thread, all or nothing.
        self._write = write
        self._waiting: list[tuple[T, asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None
        #: How many writes were made (the batching is visible in tests and figures).
        self.writes = 0

    async def add(self, item: T) -> None:
        """Returns when ``item`` is committed; raises what the write raised."""
        done = asyncio.get_running_loop().create_future()
        self._waiting.append((item, done))
        if self._writer is None:
            self._writer = asyncio.create_task(self._drain())
        await done

    async def _drain(self) -> None:
        try:
            while self._waiting:
                batch, self._waiting = self._waiting, []
                failure: Exception | None = None
                try:
                    await asyncio.to_thread(self._write, [item for item, _ in batch])
                except Exception as exc:
                    failure = exc
                self.writes += 1
                for _, done in batch:
                    if done.done():  # its caller was cancelled
                        continue
                    if failure is None:
                        done.set_result(None)
                    else:
                        done.set_exception(failure)
        finally:
            self._writer = None
