"""The topics the forwarder produces to, created on first use when ``create_topics`` is set
(a broker with auto-creation off, or one that would make them with its own defaults): each
is created once per producer, with the bus's partitions and replication factor."""

from __future__ import annotations

import logging

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from appliance.events.settings import EventBusSettings

log = logging.getLogger(__name__)


class Topics:
    def __init__(self, settings: EventBusSettings) -> None:
        self._s = settings
        self._ready: set[str] = set()

    def ensure(self, admin: AdminClient, topic: str) -> bool:
        """True once ``topic`` can be produced to (made now, there already, or not ours to
        make); False when it could not be made: the caller backs off, and sends nothing
        after the row that needed it (order)."""
        if not self._s.create_topics or topic in self._ready:
            return True
        futures = admin.create_topics(
            [NewTopic(topic, self._s.topic_partitions, self._s.topic_replication_factor)],
            request_timeout=self._s.metadata_timeout_s,
        )
        try:
            futures[topic].result(timeout=self._s.metadata_timeout_s * 2)
        except KafkaException as exc:
            err: KafkaError = exc.args[0]
            if err.code() != KafkaError.TOPIC_ALREADY_EXISTS:
                log.warning("event forwarder: cannot create topic %s: %s", topic, err.str())
                return False
        except Exception as exc:  # future timeout: treat like an unreachable broker
            log.warning("event forwarder: creating topic %s: %r", topic, exc)
            return False
        self._ready.add(topic)
        return True

    def forget(self) -> None:
        """A new producer (after a reset) checks each topic again."""
        self._ready.clear()
