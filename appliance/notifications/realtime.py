"""The real-time hub behind ``WS /api/notifications/ws/{user_id}``.

``notify`` signals the hub (from its worker thread) with the user and the ids it wrote; the
hub reads those rows once and offers them to every subscriber of that user, each through its
own bounded queue. A subscriber whose queue is full (a slow client) is dropped, never waited
for: it reconnects with the last id it saw and reads what it missed from the database, in
order. So one slow client costs the others nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from appliance.notifications.models import Notification
from appliance.notifications.outbox import Outbox

log = logging.getLogger(__name__)


@dataclass(eq=False)
class Subscriber:
    user_id: str
    queue: asyncio.Queue[Notification]
    #: Set when the hub dropped it for falling behind.
    lagging: asyncio.Event = field(default_factory=asyncio.Event)


class Hub:
    def __init__(self, outbox: Outbox, queue_size: int = 256) -> None:
        self._outbox = outbox
        self._queue_size = queue_size
        self._subscribers: dict[str, set[Subscriber]] = defaultdict(set)
        self._loop: asyncio.AbstractEventLoop | None = None
        self.dropped = 0

    def subscribe(self, user_id: str) -> Subscriber:
        self._loop = asyncio.get_running_loop()
        subscriber = Subscriber(user_id, asyncio.Queue(self._queue_size))
        self._subscribers[user_id].add(subscriber)
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        users = self._subscribers.get(subscriber.user_id)
        if users is not None:
            users.discard(subscriber)
            if not users:
                del self._subscribers[subscriber.user_id]

    def signal(self, user_id: str, ids: Sequence[int]) -> None:
        """Rows were written for ``user_id`` (thread-safe; a no-op without subscribers)."""
        loop = self._loop
        if loop is None or not ids or user_id not in self._subscribers:
            return
        with contextlib.suppress(RuntimeError):  # the loop is closing
            asyncio.run_coroutine_threadsafe(self._publish(user_id, min(ids) - 1), loop)

    async def _publish(self, user_id: str, after: int) -> None:
        items = await asyncio.to_thread(self._outbox.since_id, user_id, after)
        self.offer(user_id, items)

    def offer(self, user_id: str, items: Sequence[Notification]) -> None:
        for subscriber in list(self._subscribers.get(user_id, ())):
            for item in items:
                try:
                    subscriber.queue.put_nowait(item)
                except asyncio.QueueFull:
                    self.dropped += 1
                    subscriber.lagging.set()
                    self.unsubscribe(subscriber)
                    break
