"""The real-time hub behind ``WS /api/notifications/ws/{user_id}``.

``notify`` hands the hub (from its worker thread, right after the commit) the rows it wrote;
the outbox does so for one user in id order, and the hub passes them on in that order on the
event loop, without a database read:

- to a subscriber still catching up (sending what it missed from the database), through its
  own bounded queue; one whose queue is full (a slow client) is dropped, never waited for: it
  reconnects with the last id it saw and reads what it missed from the database, in order;
- to a live subscriber (caught up), directly: one task per user sends each notification,
  encoded once, to every live client in turn. No task per client is woken, no queue or timer
  per client touched: that was most of a fan-out's cost. The agent's WebSocket protocol
  (uvicorn's sans-I/O one on the websockets library) only writes to the socket's transport,
  so a send never waits for a client, and a slow client holds up no one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict, defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from appliance.notifications.models import Notification

log = logging.getLogger(__name__)

#: Encodings kept for clients still catching up (a client further behind is dropped anyway).
ENCODED_KEPT = 1024


#: Sends one text to a client (a WebSocket's ``send_text``).
Send = Callable[[str], Awaitable[None]]
Encode = Callable[[Notification], str]


@dataclass(eq=False)
class Subscriber:
    user_id: str
    queue: asyncio.Queue[Notification]
    #: Set when the hub dropped it for falling behind.
    lagging: asyncio.Event = field(default_factory=asyncio.Event)
    #: Set when it is done: dropped for falling behind, or a live send failed (gone).
    done: asyncio.Event = field(default_factory=asyncio.Event)
    #: Live (``go_live``): how the hub sends to it, and how it encodes a notification.
    send: Send | None = None
    encode: Encode | None = None
    #: The last id it was sent, and when it was last sent anything (monotonic).
    seen: int = 0
    last_sent: float = 0.0

    def go_live(self, send: Send, encode: Encode, seen: int) -> None:
        """Caught up to ``seen`` (its queue empty): from now on the hub sends to it directly.
        Call without awaiting anything after emptying the queue, so nothing falls between."""
        self.send, self.encode, self.seen = send, encode, seen
        self.last_sent = time.monotonic()

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
        #: Per user with live subscribers: notifications waiting for its sending task.
        self._outgoing: dict[str, list[Notification]] = {}
        self._senders: set[asyncio.Task[None]] = set()
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
        live = False
        for subscriber in list(self._subscribers.get(user_id, ())):
            if subscriber.send is not None:
                live = True
                continue
            for item in items:
                try:
                    subscriber.queue.put_nowait(item)
                except asyncio.QueueFull:
                    self.dropped += 1
                    subscriber.lagging.set()
                    subscriber.done.set()
                    self.unsubscribe(subscriber)
                    break
        if not live:
            return
        outgoing = self._outgoing.get(user_id)
        if outgoing is not None:  # its task is sending: it takes these next, in order
            outgoing.extend(items)
            return
        self._outgoing[user_id] = list(items)
        task = asyncio.get_running_loop().create_task(self._send_live(user_id))
        self._senders.add(task)
        task.add_done_callback(self._senders.discard)

    async def _send_live(self, user_id: str) -> None:
        """Each of the user's notifications, in order, to each live subscriber in turn."""
        try:
            while items := self._outgoing.get(user_id):
                self._outgoing[user_id] = []
                for item in items:
                    for subscriber in list(self._subscribers.get(user_id, ())):
                        send, encode = subscriber.send, subscriber.encode
                        if send is None or encode is None or item.id <= subscriber.seen:
                            continue
                        try:
                            await send(self.encoded(item, encode))
                        except Exception:  # the client is gone
                            subscriber.done.set()
                            self.unsubscribe(subscriber)
                            continue
                        subscriber.seen = item.id
                        subscriber.last_sent = time.monotonic()
        finally:
            self._outgoing.pop(user_id, None)

    def encoded(self, item: Notification, encode: Callable[[Notification], str]) -> str:
        """``encode(item)``, computed once for every client that sends it (event loop only)."""
        text = self._encoded.get(item.id)
        if text is None:
            text = self._encoded[item.id] = encode(item)
            if len(self._encoded) > ENCODED_KEPT:
                self._encoded.popitem(last=False)
        return text
