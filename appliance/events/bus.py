"""EventBus: the agent's publish/subscribe facade over the outbox and Kafka.

    bus = EventBus(EventBusSettings(bootstrap_servers="127.0.0.1:9092"))
    bus.subscribe("storage.pool", lambda event: print(event.payload))
    bus.publish("storage.pool", {"pool": "tank", "state": "DEGRADED"}, key="tank")
    ...
    bus.close()

publish() only writes the outbox, so it works (and is durable) while the broker is down.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self

from confluent_kafka.admin import AdminClient

from appliance.events.broker import probe_broker
from appliance.events.clientlog import client_logger
from appliance.events.consumer import ConsumerLoop, EventHandler
from appliance.events.envelope import BusEvent, new_event, validate_topic
from appliance.events.forwarder import Forwarder
from appliance.events.outbox import Outbox
from appliance.events.settings import EventBusSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class EventBusHealth:
    backlog: int  # outbox rows not yet acknowledged by the broker
    dead: int  # rows the broker refused for good
    oldest_pending_age_s: float | None
    broker_reachable: bool
    broker_latency_ms: float | None  # one metadata request
    broker_error: str | None
    forwarder_running: bool

    @property
    def ok(self) -> bool:
        return self.broker_reachable and self.forwarder_running and self.dead == 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Subscription:
    def __init__(self, loop: ConsumerLoop) -> None:
        self._loop = loop

    @property
    def topics(self) -> list[str]:
        return list(self._loop.topics)

    @property
    def group_id(self) -> str:
        return self._loop.group_id

    @property
    def running(self) -> bool:
        return self._loop.running

    def wait_assigned(self, timeout_s: float) -> bool:
        """True once the group gave this member partitions (the first join takes a while)."""
        return self._loop.assigned.wait(timeout_s)

    def stop(self, timeout_s: float = 10.0) -> None:
        self._loop.stop(timeout_s)


class EventBus:
    def __init__(
        self,
        settings: EventBusSettings,
        *,
        forward: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``forward=False`` only records to the outbox (a process that must not talk to Kafka)."""
        self.settings = settings
        self._clock = clock
        self._outbox = Outbox(
            settings.outbox_path, synchronous=settings.outbox_synchronous, clock=clock
        )
        self._wake = threading.Event()
        self._forwarder = Forwarder(settings, self._outbox, self._wake)
        self._subscriptions: list[Subscription] = []
        self._admin: AdminClient | None = None
        self._admin_lock = threading.Lock()
        self._closed = False
        log.info("event bus: %s", settings.description)
        if forward:
            self._forwarder.start()
        self._outbox.prune_delivered(settings.delivered_retention_s)

    def publish(
        self, topic: str, payload: object, *, key: str | None = None, schema_version: int = 1
    ) -> BusEvent:
        """Record the event durably and return it; the forwarder sends it when it can.

        Raises InvalidTopicError / InvalidPayloadError (both ValueError) before anything is stored.
        """
        if self._closed:
            raise RuntimeError("event bus is closed")
        now = datetime.fromtimestamp(self._clock(), UTC)
        event, body = new_event(topic, payload, key=key, schema_version=schema_version, now=now)
        self._outbox.append(str(event.id), event.topic, event.key, body)
        self._wake.set()
        return event

    def subscribe(
        self, topic: str | Sequence[str], handler: EventHandler, *, group_id: str | None = None
    ) -> Subscription:
        """Run ``handler`` for each event of the topic(s), as a member of the consumer group.

        Each event id reaches the group's handlers once (within the dedupe window); the offset
        is committed after the handler returns, so a crash mid-handler means a redelivery.
        """
        if self._closed:
            raise RuntimeError("event bus is closed")
        topics = [topic] if isinstance(topic, str) else list(topic)
        if not topics:
            raise ValueError("subscribe needs at least one topic")
        for name in topics:
            validate_topic(name)
        loop = ConsumerLoop(
            self.settings, self._outbox, topics, handler, group_id or self.settings.group_id
        )
        loop.start()
        subscription = Subscription(loop)
        self._subscriptions.append(subscription)
        return subscription

    def health(self) -> EventBusHealth:
        """For the health registry: blocking (one metadata request, bounded by its timeout)."""
        backlog = self._outbox.backlog()
        with self._admin_lock:
            if self._admin is None:
                config: dict[str, Any] = {
                    **self.settings.client_config(),
                    "logger": client_logger(),
                }
                self._admin = AdminClient(config)
            latency, error = probe_broker(self._admin, self.settings.metadata_timeout_s)
        oldest = backlog.oldest_pending_created_at
        return EventBusHealth(
            backlog=backlog.pending,
            dead=backlog.dead,
            oldest_pending_age_s=None if oldest is None else max(0.0, self._clock() - oldest),
            broker_reachable=latency is not None,
            broker_latency_ms=latency,
            broker_error=error,
            forwarder_running=self._forwarder.running,
        )

    def wait_until_delivered(self, timeout_s: float) -> bool:
        """True once nothing is pending in the outbox (shutdown, tests, benchmarks)."""
        deadline = time.monotonic() + timeout_s
        while self._outbox.backlog().pending:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)
        return True

    @property
    def forwarder_resets(self) -> int:
        return self._forwarder.resets

    def close(self, timeout_s: float = 10.0) -> None:
        """Stop consumers and the forwarder; anything unacknowledged stays in the outbox."""
        if self._closed:
            return
        self._closed = True
        for subscription in self._subscriptions:
            subscription.stop(timeout_s)
        self._forwarder.stop(timeout_s)
        self._outbox.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
