"""The real-time hub behind ``WS /api/notifications/ws/{user_id}``.

``notify`` hands the hub (from its worker thread, right after the commit) the rows it wrote;
the outbox does so for one user in id order, and the hub offers them in that order on the
event loop to every subscriber of that user, each through its own bounded queue — no database
read on the way. A subscriber whose queue is full (a slow client) is dropped, never waited
for: it reconnects with the last id it saw and reads what it missed from the database, in
order. So one slow client costs the others nothing.

A notification is encoded for the wire once (``encoded``), however many clients get it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from appliance.notifications.models import Notification

log = logging.getLogger(__name__)

#: Encodings kept for clients still catching up (a client further behind is dropped anyway).
ENCODED_KEPT = 1024


@dataclass(eq=False)
class Subscriber:
    user_id: str
    queue: asyncio.Queue[Notification]
    #: Set when the hub dropped it for falling behind.
    lagging: asyncio.Event = field(default_factory=asyncio.Event)

    async def next(self, timeout_s: float) -> Notification:
        """The next notification offered to it; TimeoutError after ``timeout_s`` without one.
        (No task per call, unlike ``wait_for``: with hundreds of clients woken by one
        notification, that task was a fifth of the fan-out's time.)"""
        if not self.queue.empty():
            return self.queue.get_nowait()
        async with asyncio.timeout(timeout_s):
            return await self.queue.get()


class Hub:
    def __init__(self, queue_size: int = 256) -> None:
        self._queue_size = queue_size
        self._subscribers: dict[str, set[Subscriber]] = defaultdict(set)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._encoded: OrderedDict[int, str] = OrderedDict()
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

    def signal(self, user_id: str, items: Sequence[Notification]) -> None:
        """Rows were committed for ``user_id`` (thread-safe; a no-op without subscribers).
        Callbacks scheduled from threads run in the order they were scheduled, so calls in
        id order are offered in id order."""
        loop = self._loop
        if loop is None or not items or user_id not in self._subscribers:
            return
        with contextlib.suppress(RuntimeError):  # the loop is closing
            loop.call_soon_threadsafe(self.offer, user_id, list(items))

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

    def encoded(self, item: Notification, encode: Callable[[Notification], str]) -> str:
        """``encode(item)``, computed once for every client that sends it (event loop only)."""
        text = self._encoded.get(item.id)
        if text is None:
            text = self._encoded[item.id] = encode(item)
            if len(self._encoded) > ENCODED_KEPT:
                self._encoded.popitem(last=False)
        return text
