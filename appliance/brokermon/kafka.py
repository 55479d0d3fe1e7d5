"""The Kafka monitor: broker reachability, topics and partitions, and consumer-group lag, read
with confluent-kafka's AdminClient every ``interval_s`` in the background (a request reads
the last sample, never the broker).

Lag is computed from offsets (lag.py): each group's committed offsets
(``list_consumer_group_offsets``) against the partitions' end offsets. On Tansu 0.6 (the lab's
broker) ``describe_consumer_groups`` lists no members and ``list_consumer_groups`` no state, so
nothing there tells which topics a group reads or how far behind it is; its ListOffsets(latest)
answers the last batch's base offset + 1 (its memory storage names batches by base offset),
short of the end by that batch's other records. So each end offset is also read from a fetch's
high watermark, which Tansu reports right (``confirm_end_offsets``): one small fetch per
partition at its listed end - 1.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from confluent_kafka import (
    Consumer,
    ConsumerGroupTopicPartitions,
    KafkaException,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, OffsetSpec  # type: ignore[attr-defined]

from appliance.background import BackgroundTask
from appliance.brokermon.lag import KafkaSnapshot, end_offset, group_lags
from appliance.brokermon.lag import TopicPartition as TP
from appliance.brokermon.settings import KafkaMonitorSettings
from appliance.events.clientlog import client_logger

log = logging.getLogger(__name__)

LATEST: Any = OffsetSpec.latest()  # type: ignore[no-untyped-call]
EARLIEST: Any = OffsetSpec.earliest()  # type: ignore[no-untyped-call]


def _why(exc: BaseException) -> str:
    if isinstance(exc, KafkaException) and exc.args:
        return str(exc.args[0])
    return f"{type(exc).__name__}: {exc}"


class KafkaReader:
    """Reads one KafkaSnapshot (blocking: run it in a thread)."""

    def __init__(
        self,
        client_config: dict[str, Any],
        settings: KafkaMonitorSettings,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._config = {
            **client_config,
            "socket.timeout.ms": int(settings.timeout_s * 1000),
            "logger": client_logger(),
        }
        self._s = settings
        self._clock = clock
        self._admin: AdminClient | None = None

    def _client(self) -> AdminClient:
        if self._admin is None:
            self._admin = AdminClient(self._config)
        return self._admin

    def read(self) -> KafkaSnapshot:
        started = time.perf_counter()
        now = self._clock()
        admin = self._client()
        timeout = self._s.timeout_s
        try:
            metadata = admin.list_topics(timeout=timeout)
        except KafkaException as exc:
            self._admin = None  # a new client next time (the broker may come back elsewhere)
            return KafkaSnapshot(now, False, _elapsed(started), _why(exc))
        topics = {
            name: len(t.partitions)
            for name, t in sorted(metadata.topics.items())
            if not name.startswith("__") and t.error is None
        }
        snapshot_error: str | None = None
        committed: dict[str, dict[TP, int]] = {}
        group_errors: dict[str, str] = {}
        try:
            for group in self._groups(admin):
                try:
                    committed[group] = self._committed(admin, group)
                except (KafkaException, ValueError) as exc:
                    group_errors[group] = _why(exc)
        except KafkaException as exc:
            snapshot_error = f"consumer groups not listed: {_why(exc)}"
        wanted = {topic for offsets in committed.values() for topic, _ in offsets}
        partitions = [
            (topic, p) for topic in sorted(wanted & set(topics)) for p in range(topics[topic])
        ][: self._s.max_partitions]
        lags = []
        if partitions:
            try:
                ends = self._offsets(admin, partitions, LATEST)
                starts = self._offsets(admin, partitions, EARLIEST)
                if self._s.confirm_end_offsets:
                    ends = self._confirmed(ends)
                for group, offsets in sorted(committed.items()):
                    lags.extend(group_lags(group, offsets, ends, starts))
            except KafkaException as exc:
                snapshot_error = f"end offsets not read: {_why(exc)}"
        return KafkaSnapshot(
            sampled_at=now,
            reachable=True,
            duration_ms=_elapsed(started),
            error=snapshot_error,
            brokers=len(metadata.brokers),
            topics=topics,
            lags=lags,
            group_errors=group_errors,
        )

    def _groups(self, admin: AdminClient) -> list[str]:
        if self._s.groups:
            return list(self._s.groups)
        listed = admin.list_consumer_groups(request_timeout=self._s.timeout_s).result()
        return sorted({g.group_id for g in listed.valid})

    def _committed(self, admin: AdminClient, group: str) -> dict[TP, int]:
        request = [ConsumerGroupTopicPartitions(group)]
        futures = admin.list_consumer_group_offsets(request, request_timeout=self._s.timeout_s)
        result = futures[group].result()
        return {
            (tp.topic, tp.partition): tp.offset
            for tp in result.topic_partitions or []
            if tp.error is None and tp.offset >= 0
        }

    def _offsets(self, admin: AdminClient, partitions: Iterable[TP], spec: Any) -> dict[TP, int]:
        request = {TopicPartition(topic, p): spec for topic, p in partitions}
        futures = admin.list_offsets(request, request_timeout=self._s.timeout_s)
        return {(tp.topic, tp.partition): f.result().offset for tp, f in futures.items()}

    def _confirmed(self, ends: dict[TP, int]) -> dict[TP, int]:
        """Each non-empty partition fetched once from its listed end - 1: the fetch response's
        high watermark is the end (ListOffsets may be short of it, see the module's doc)."""
        todo = {tp: end for tp, end in ends.items() if end > 0}
        if not todo:
            return ends
        consumer = Consumer(
            {
                **self._config,
                "group.id": "sovereign-kafkamon",  # never joined nor committed: assign only
                "enable.auto.commit": False,
                "enable.partition.eof": True,
                "fetch.wait.max.ms": 10,
                "fetch.max.bytes": 1_048_576,
            }
        )
        try:
            consumer.assign([TopicPartition(t, p, end - 1) for (t, p), end in todo.items()])
            waiting = set(todo)
            deadline = time.monotonic() + self._s.timeout_s
            while waiting and time.monotonic() < deadline:
                for msg in consumer.consume(num_messages=500, timeout=0.1):
                    waiting.discard((msg.topic(), msg.partition()))
            confirmed = dict(ends)
            for (topic, p), listed in todo.items():
                _low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), cached=True)
                confirmed[(topic, p)] = end_offset(listed, high if high >= 0 else None)
            return confirmed
        finally:
            consumer.close()


def _elapsed(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)


class KafkaMonitor:
    """Samples the broker every ``interval_s``; ``last`` is what the API, the health check,
    Prometheus and the alert rules read."""

    def __init__(self, reader: KafkaReader, settings: KafkaMonitorSettings) -> None:
        self.reader = reader
        self.settings = settings
        self.last: KafkaSnapshot | None = None
        self._task = BackgroundTask("kafkamon")

    def sample_once(self) -> KafkaSnapshot:
        try:
            snapshot = self.reader.read()
        except Exception as exc:  # a client bug must not stop the loop; the check says why
            log.exception("kafka monitor: sample failed")
            snapshot = KafkaSnapshot(time.time(), False, 0.0, _why(exc))
        if (self.last is None or self.last.reachable) and not snapshot.reachable:
            log.warning("kafka monitor: broker unreachable: %s", snapshot.error)
        elif self.last is not None and not self.last.reachable and snapshot.reachable:
            log.info("kafka monitor: broker reachable again")
        self.last = snapshot
        return snapshot

    def start(self) -> None:
        self._task.start(self._loop)

    async def stop(self) -> None:
        await self._task.stop()

    async def _loop(self) -> None:
        while True:
            started = time.monotonic()
            await asyncio.to_thread(self.sample_once)
            await asyncio.sleep(max(0.0, self.settings.interval_s - (time.monotonic() - started)))
