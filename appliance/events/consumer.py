"""Broker → handler (confluent-kafka / librdkafka consumer): the receiving half of the delivery
contract (see appliance/events/__init__.py).

In batches: one poll waits for the first message, then whatever librdkafka has already fetched
joins it (up to ``consume_batch``); the group's dedupe window is read once for the batch, each
new event's handler runs (inside a CONSUMER span, see propagation.py), and then, in this order:

1. one transaction records the batch's event ids (and its dead letters) in the inbox, on disk
   at ``synchronous=FULL`` before it returns (inbox.py);
2. the batch's offsets are sent to the broker, asynchronously: the loop does not wait for the
   broker's answer (a round trip that held up the next batch by 3 ms, 30 ms at the 99th
   percentile on tansu), the last ones synchronously when the consumer stops.

So an offset is committed only once its event's dedupe row is durable. A crash (kill -9, power
cut) before an offset commit reached the broker means those events are delivered again: events
whose dedupe row was written (the batches whose commit was still on its way) are dropped as
duplicates; handlers that had run in the batch being processed at the crash, before its
transaction, run again (at-least-once for that one batch, at most ``consume_batch`` events).
Exactly-once as a handler sees it otherwise, within the dedupe window.

A handler that keeps failing (``handler_max_attempts`` attempts, with backoff between them) is
neither skipped nor allowed to hold its partition up for longer than those retries: the event is
parked as a dead letter (inbox.py), with the error, and the consumer moves on.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition
from opentelemetry.trace import Span, Status, StatusCode

from appliance.events.clientlog import client_logger
from appliance.events.envelope import BusEvent, InvalidEnvelopeError, decode
from appliance.events.inbox import Failure, Inbox
from appliance.events.propagation import BusTracer, consuming
from appliance.events.settings import EventBusSettings

log = logging.getLogger(__name__)

EventHandler = Callable[[BusEvent], None]


def message_headers(msg: Message) -> dict[str, str]:
    """The W3C trace context (and anything else but our event id) a message carries."""
    raw = msg.headers()
    if not raw:
        return {}
    pairs = raw.items() if isinstance(raw, dict) else raw
    return {
        k: v.decode("utf-8", "replace") if isinstance(v, bytes) else v
        for k, v in pairs
        if v is not None and k != "event_id"
    }


class ConsumerLoop:
    """One consumer-group member: decode, drop duplicates, call the handler, then commit."""

    def __init__(
        self,
        settings: EventBusSettings,
        inbox: Inbox,
        topics: list[str],
        handler: EventHandler,
        group_id: str,
        tracer: BusTracer,
    ) -> None:
        self._s = settings
        self._inbox = inbox
        self.topics = topics
        self.handler = handler
        self.group_id = group_id
        self._tracer = tracer
        self._stop = threading.Event()
        self.assigned = threading.Event()
        self.handled = 0
        self.duplicates = 0
        self.dead_lettered = 0
        self.batches = 0
        self._since_trim = 0
        self._thread = threading.Thread(
            target=self._run, name=f"eventbus-consumer-{group_id}", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def _config(self) -> dict[str, Any]:
        session = self._s.session_timeout_ms
        return {
            **self._s.client_config(),
            "group.id": self.group_id,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "session.timeout.ms": session,
            "heartbeat.interval.ms": max(100, min(3000, session // 3)),
            "fetch.wait.max.ms": self._s.fetch_wait_max_ms,
            "error_cb": lambda err: log.debug("event consumer: client error %s", err.str()),
            "on_commit": _committed,
            "logger": client_logger(),
        }

    def _run(self) -> None:
        consumer = Consumer(self._config())
        consumer.subscribe(self.topics, on_assign=lambda _c, _p: self.assigned.set())
        latest: dict[tuple[str, int], TopicPartition] = {}  # committed asynchronously
        try:
            while not self._stop.is_set():
                first = consumer.poll(0.1)  # also serves the commits' answers (_committed)
                if first is None:
                    continue
                batch = [first]
                if self._s.consume_batch > 1:  # already fetched: no waiting for a full batch
                    batch += consumer.consume(self._s.consume_batch - 1, 0)
                offsets = self._process(batch)
                if offsets:
                    self._commit(consumer, offsets, asynchronous=True)
                    latest.update(((tp.topic, tp.partition), tp) for tp in offsets)
        finally:
            if latest:  # a clean stop leaves nothing to redeliver
                self._commit(consumer, list(latest.values()), asynchronous=False)
            consumer.close()

    def _process(self, batch: list[Message]) -> list[TopicPartition]:
        """Handle the batch; the offsets to commit (each partition's next, after what is done)."""
        events: list[tuple[Message, BusEvent | None]] = []
        for msg in batch:
            err = msg.error()
            if err is not None:
                log.debug("event consumer: %s", err.str())
                continue
            try:
                events.append((msg, decode(msg.value() or b"", partition=msg.partition(),
                                           offset=msg.offset())))  # fmt: skip
            except InvalidEnvelopeError as exc:
                log.warning(
                    "event consumer: skipping unreadable message %s[%s]@%s: %s",
                    msg.topic(), msg.partition(), msg.offset(), exc,
                )  # fmt: skip
                events.append((msg, None))
        ids = [str(event.id) if event is not None else "" for _, event in events]
        seen = self._inbox.seen(self.group_id, [i for i in ids if i])
        traced = self._tracer.enabled
        done: dict[tuple[str, int], int] = {}
        handled: list[str] = []
        failures: list[Failure] = []
        for (msg, event), event_id in zip(events, ids, strict=True):
            if event is None:
                pass  # unreadable: done with
            elif event_id in seen:
                self.duplicates += 1
            else:
                outcome = self._handle(msg, event, traced)
                if outcome is False:
                    break  # stopping mid-retry: neither recorded nor committed, redelivered
                if isinstance(outcome, Failure):
                    failures.append(outcome)
                handled.append(event_id)
                seen.add(event_id)  # the same id twice in one batch
            done[(msg.topic() or "", msg.partition() or 0)] = msg.offset() or 0
        if handled:
            self._inbox.record(self.group_id, handled, failures)
            self.handled += len(handled) - len(failures)
            self.dead_lettered += len(failures)
            self._trim(len(handled))
        self.batches += 1
        return [TopicPartition(t, p, offset + 1) for (t, p), offset in done.items()]

    def _handle(self, msg: Message, event: BusEvent, traced: bool) -> bool | Failure:
        """True once handled; a Failure to park; False when stopped while backing off."""
        if not traced:
            return self._attempts(msg, event, None)
        headers = message_headers(msg)
        with consuming(self._tracer.tracer, event.topic, headers, self.group_id) as span:
            return self._attempts(msg, event, span)

    def _attempts(self, msg: Message, event: BusEvent, span: Span | None) -> bool | Failure:
        delay = self._s.backoff_initial_s
        attempts = self._s.handler_max_attempts
        for attempt in range(1, attempts + 1):
            try:
                self.handler(event)
                return True
            except Exception as exc:
                if span is not None:
                    span.record_exception(exc)
                log.exception(
                    "event consumer: handler failed on event %s (%s), attempt %d/%d",
                    event.id, event.topic, attempt, attempts,
                )  # fmt: skip
                if attempt == attempts:
                    if span is not None:
                        span.set_status(Status(StatusCode.ERROR, "parked as a dead letter"))
                    log.error("event consumer: event %s parked as a dead letter", event.id)
                    return Failure(
                        str(event.id), event.topic, msg.partition(), msg.offset(),
                        msg.value() or b"", message_headers(msg), attempts, repr(exc),
                    )  # fmt: skip
                if self._stop.wait(delay):
                    return False
                delay = min(delay * 2, self._s.backoff_max_s)
        return False  # unreachable: the loop returns

    def _trim(self, count: int) -> None:
        self._since_trim += count
        if self._since_trim >= max(1000, self._s.dedupe_window // 10):
            self._since_trim = 0
            self._inbox.trim(self.group_id, self._s.dedupe_window)

    def _commit(
        self, consumer: Consumer, offsets: list[TopicPartition], *, asynchronous: bool
    ) -> None:
        try:
            if asynchronous:
                consumer.commit(offsets=offsets, asynchronous=True)
            else:
                consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as exc:
            # e.g. a rebalance took the partition: the next owner re-reads, the inbox dedupes.
            log.warning("event consumer: offset commit failed: %s", exc)


def _committed(err: KafkaError | None, _offsets: list[TopicPartition]) -> None:
    """An asynchronous commit's answer. A failed one (a rebalance) costs a redelivery the
    dedupe window drops, and the next batch's commit covers its partitions again."""
    if err is not None and err.code() != KafkaError._NO_OFFSET:
        log.info("event consumer: offset commit failed: %s", err.str())


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
    def handler(self) -> EventHandler:
        return self._loop.handler

    @property
    def running(self) -> bool:
        return self._loop.running

    @property
    def handled(self) -> int:
        """Events whose handler returned (this member, since it started)."""
        return self._loop.handled

    @property
    def duplicates(self) -> int:
        """Redelivered events the dedupe window dropped."""
        return self._loop.duplicates

    @property
    def dead_lettered(self) -> int:
        return self._loop.dead_lettered

    @property
    def batches(self) -> int:
        """Dedupe transactions and offset commits: how the events were batched."""
        return self._loop.batches

    def wait_assigned(self, timeout_s: float) -> bool:
        """True once the group gave this member partitions (the first join takes a while)."""
        return self._loop.assigned.wait(timeout_s)

    def stop(self, timeout_s: float = 10.0) -> None:
        self._loop.stop(timeout_s)
