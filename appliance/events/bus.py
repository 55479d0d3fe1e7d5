"""EventBus: the agent's publish/subscribe facade over the outbox and Kafka.

    bus = EventBus(EventBusSettings(bootstrap_servers="127.0.0.1:9092"))
    bus.subscribe("storage.pool", lambda event: print(event.payload))
    bus.publish("storage.pool", {"pool": "tank", "state": "DEGRADED"}, key="tank")
    ...
    bus.close()

publish() only writes the outbox, so it works (and is durable) while the broker is down;
concurrent publishers share the outbox's commits (group commit, see outbox.py). An event whose
handler keeps failing is parked as a dead letter: ``health().dead_letters`` counts them,
``dead_letters()`` lists them and ``replay_dead_letter(id)`` runs the handler on one again.
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
from opentelemetry.trace import TracerProvider

from appliance.events.broker import probe_broker
from appliance.events.clientlog import client_logger
from appliance.events.consumer import ConsumerLoop, EventHandler, Subscription
from appliance.events.envelope import BusEvent, decode, new_event, validate_topic
from appliance.events.forwarder import Forwarder
from appliance.events.inbox import DeadLetter, Inbox
from appliance.events.outbox import Outbox
from appliance.events.propagation import BusTracer, consuming, publishing
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
    dead_letters: int = 0  # events parked after their handler kept failing, not replayed yet

    @property
    def ok(self) -> bool:
        return (
            self.broker_reachable
            and self.forwarder_running
            and self.dead == 0
            and self.dead_letters == 0
        )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class EventBus:
    def __init__(
        self,
        settings: EventBusSettings,
        *,
        forward: bool = True,
        clock: Callable[[], float] = time.time,
        tracer_provider: TracerProvider | None = None,
    ) -> None:
        """``forward=False`` only records to the outbox (a process that must not talk to Kafka).

        ``tracer_provider``: where the bus's spans go; default the global one (appliance/tracing).
        """
        self.settings = settings
        self._clock = clock
        self._tracer = BusTracer(tracer_provider)
        self._outbox = Outbox(
            settings.outbox_path, synchronous=settings.outbox_synchronous, clock=clock
        )
        self._inbox = Inbox(
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
        Runs in a PRODUCER span whose context travels in the event's headers.
        """
        if self._closed:
            raise RuntimeError("event bus is closed")
        now = datetime.fromtimestamp(self._clock(), UTC)
        event, body = new_event(topic, payload, key=key, schema_version=schema_version, now=now)
        event_id = str(event.id)
        if not self._tracer.enabled:
            self._outbox.append(event_id, event.topic, event.key, body)
        else:
            headers: dict[str, str] = {}
            with publishing(self._tracer.tracer, event.topic, headers) as span:
                span.set_attribute("messaging.message.id", event_id)
                self._outbox.append(event_id, event.topic, event.key, body, headers)
        self._wake.set()
        return event

    def publish_many(
        self, events: Sequence[tuple[str, object, str | None]], *, schema_version: int = 1
    ) -> list[BusEvent]:
        """publish() for (topic, payload, key) triples: one transaction, all stored or none.

        For a producer with many events at once (a backlog, a scrape): one durable commit
        instead of one per event. Each event is still validated before anything is stored.
        """
        if self._closed:
            raise RuntimeError("event bus is closed")
        now = datetime.fromtimestamp(self._clock(), UTC)
        built = [
            new_event(topic, payload, key=key, schema_version=schema_version, now=now)
            for topic, payload, key in events
        ]
        rows: list[tuple[str, str, str | None, bytes, dict[str, str] | None]] = []
        for event, body in built:
            headers: dict[str, str] = {}
            if self._tracer.enabled:
                with publishing(self._tracer.tracer, event.topic, headers) as span:
                    span.set_attribute("messaging.message.id", str(event.id))
            rows.append((str(event.id), event.topic, event.key, body, headers or None))
        if rows:
            self._outbox.append_many(rows)
            self._wake.set()
        return [event for event, _ in built]

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
            self.settings,
            self._inbox,
            topics,
            handler,
            group_id or self.settings.group_id,
            self._tracer,
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
            dead_letters=self._inbox.dead_letter_count(),
        )

    def dead_letters(
        self, group_id: str | None = None, *, include_replayed: bool = False, limit: int = 100
    ) -> list[DeadLetter]:
        """Parked events, oldest first (``body`` is the event's wire bytes: ``decode`` it)."""
        return self._inbox.dead_letters(group_id, include_replayed=include_replayed, limit=limit)

    def replay_dead_letter(self, dead_id: int, handler: EventHandler | None = None) -> bool:
        """Run a handler on a parked event again, once; True (and marked replayed) if it returns.

        ``handler`` defaults to this bus's subscription of the event's group and topic. A failure
        is logged, counted in the dead letter's attempts and leaves it parked.
        """
        letter = self._inbox.dead_letter(dead_id)
        if letter is None:
            raise KeyError(f"no dead letter {dead_id}")
        if handler is None:
            handler = self._handler_for(letter.group_id, letter.topic)
        event = decode(letter.body, partition=letter.partition, offset=letter.offset)
        with consuming(self._tracer.tracer, letter.topic, letter.headers, letter.group_id) as span:
            try:
                handler(event)
            except Exception as exc:
                span.record_exception(exc)
                log.exception("event bus: replaying dead letter %d failed", dead_id)
                self._inbox.replayed(dead_id, repr(exc))
                return False
        self._inbox.replayed(dead_id, None)
        return True

    def _handler_for(self, group_id: str, topic: str) -> EventHandler:
        for subscription in self._subscriptions:
            if subscription.group_id == group_id and topic in subscription.topics:
                return subscription.handler
        raise LookupError(f"no subscription of group {group_id} to {topic}: pass a handler")

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
        self._inbox.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
