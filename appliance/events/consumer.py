"""Broker → handler (confluent-kafka / librdkafka consumer): the receiving half of the delivery
contract (see appliance/events/__init__.py).

Exactly-once as a handler sees it: the consumer drops event ids its group has already handled
(the outbox's inbox table), and commits an offset only once its message is done with.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from confluent_kafka import Consumer, KafkaException, Message

from appliance.events.clientlog import client_logger
from appliance.events.envelope import BusEvent, InvalidEnvelopeError, decode
from appliance.events.outbox import Outbox
from appliance.events.settings import EventBusSettings

log = logging.getLogger(__name__)

EventHandler = Callable[[BusEvent], None]


class ConsumerLoop:
    """One consumer-group member: decode, drop duplicates, call the handler, then commit."""

    def __init__(
        self,
        settings: EventBusSettings,
        outbox: Outbox,
        topics: list[str],
        handler: EventHandler,
        group_id: str,
    ) -> None:
        self._s = settings
        self._outbox = outbox
        self.topics = topics
        self._handler = handler
        self.group_id = group_id
        self._stop = threading.Event()
        self.assigned = threading.Event()
        self.handled = 0
        self.duplicates = 0
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
            "logger": client_logger(),
        }

    def _run(self) -> None:
        consumer = Consumer(self._config())
        consumer.subscribe(self.topics, on_assign=lambda _c, _p: self.assigned.set())
        try:
            while not self._stop.is_set():
                msg = consumer.poll(0.1)
                if msg is None:
                    continue
                err = msg.error()
                if err is not None:
                    log.debug("event consumer: %s", err.str())
                    continue
                if self._process(msg):
                    self._commit(consumer, msg)
        finally:
            consumer.close()

    def _process(self, msg: Message) -> bool:
        """True when the message is done with (handled, duplicate or unreadable)."""
        value = msg.value()
        try:
            event = decode(value or b"", partition=msg.partition(), offset=msg.offset())
        except InvalidEnvelopeError as exc:
            log.warning(
                "event consumer: skipping unreadable message %s[%s]@%s: %s",
                msg.topic(),
                msg.partition(),
                msg.offset(),
                exc,
            )
            return True
        event_id = str(event.id)
        if self._outbox.seen(self.group_id, event_id):
            self.duplicates += 1
            return True
        delay = self._s.backoff_initial_s
        for attempt in range(1, self._s.handler_max_attempts + 1):
            try:
                self._handler(event)
                break
            except Exception:
                log.exception(
                    "event consumer: handler failed on event %s (%s), attempt %d/%d",
                    event_id,
                    event.topic,
                    attempt,
                    self._s.handler_max_attempts,
                )
                if attempt == self._s.handler_max_attempts:
                    log.error("event consumer: giving up on event %s", event_id)
                    break
                if self._stop.wait(delay):
                    return False  # not handled, not committed: redelivered to the next member
                delay = min(delay * 2, self._s.backoff_max_s)
        self._outbox.remember(self.group_id, event_id)
        self.handled += 1
        if self.handled % 1000 == 0:
            self._outbox.trim_inbox(self.group_id, self._s.dedupe_window)
        return True

    def _commit(self, consumer: Consumer, msg: Message) -> None:
        try:
            consumer.commit(message=msg, asynchronous=False)
        except KafkaException as exc:
            # e.g. a rebalance took the partition: the next owner re-reads, the inbox dedupes.
            log.warning("event consumer: offset commit failed: %s", exc)
