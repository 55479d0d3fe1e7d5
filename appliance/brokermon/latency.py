"""The end-to-end latency monitor: a probe event published on the agent's event bus every
``interval_s``, consumed by the agent (a consumer group of its own) and committed to its
database (``latency_probes``); the latency is from the event's publish (its ``created_at``) to
the return of the commit, so it covers the outbox, the broker, the consumer, the handler and
PostgreSQL. Percentiles over a window (window.py); ``get_average_latency()`` is the spec's.

Only probes this agent instance published count (each start is a new instance): a probe left
over from before a restart is committed but not measured, its latency being the downtime.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic
from sqlalchemy import Connection, delete, select
from sqlalchemy.dialects import postgresql, sqlite

from appliance.background import BackgroundTask
from appliance.brokermon.settings import LatencyMonitorSettings
from appliance.brokermon.window import LatencyStats, LatencyWindow
from appliance.database.errors import StoreError
from appliance.database.repository import Store
from appliance.database.schema_latency import latency_probes
from appliance.events import BusEvent, EventBus, EventBusSettings, Subscription
from appliance.events.clientlog import client_logger

log = logging.getLogger(__name__)


class LatencyMonitor:
    def __init__(
        self,
        settings: LatencyMonitorSettings,
        store: Store,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.store = store
        self.window = LatencyWindow(settings.window_s, clock)
        self.instance = uuid.uuid4().hex
        self._clock = clock
        self._seq = 0
        self._bus: EventBus | None = None
        self._subscription: Subscription | None = None
        self._pruned_at = 0.0
        self._prune_lock = threading.Lock()
        self._task = BackgroundTask("latency")
        self.handled = 0

    # Publishing ----------------------------------------------------------------------------

    def attach(self, bus: EventBus) -> Subscription:
        """Subscribe the probe handler (its own group) on ``bus``; probes go out through it.

        The topic is made first: a consumer subscribed to a topic that does not exist yet is
        given its partitions only at its next metadata refresh and rebalance (18 s on Tansu).
        """
        ensure_topic(bus.settings, self.settings.topic)
        self._bus = bus
        self._subscription = bus.subscribe(
            self.settings.topic, self.handle, group_id=self.settings.group_id
        )
        return self._subscription

    @property
    def subscription(self) -> Subscription | None:
        return self._subscription

    def publish_once(self) -> str:
        """One probe; its id. Pending from just before the publish (the bus stamps the event a
        moment later: its created_at is the measured start once it commits)."""
        if self._bus is None:
            raise RuntimeError("latency monitor not attached to an event bus")
        self._seq += 1
        probe = f"{self.instance}-{self._seq}"
        self.window.published(probe, self._clock())
        self._bus.publish(
            self.settings.topic,
            {"probe": probe, "agent": self.instance, "seq": self._seq},
            key=self.instance,
        )
        return probe

    def start(self, bus: EventBus) -> None:
        """Attach to ``bus`` and publish probes, in the background (the broker may be away:
        nothing here waits for it)."""
        self._task.start(lambda: self._loop(bus))

    async def stop(self) -> None:
        await self._task.stop()

    async def _loop(self, bus: EventBus) -> None:
        subscription = self._subscription
        if subscription is None:
            subscription = await asyncio.to_thread(self.attach, bus)
        # No probe before the group has its partition (the first join takes half the session
        # timeout): its wait would count as latency, and the agent's start is not an outage.
        while not await asyncio.to_thread(subscription.wait_assigned, 5.0):
            log.info("latency monitor: waiting for the probe group's partition")
            # The broker may have been away when the topic was to be made: no probe is sent
            # before the partition is assigned, so nothing else would make it.
            await asyncio.to_thread(ensure_topic, bus.settings, self.settings.topic)
        while True:
            started = time.monotonic()
            try:
                await asyncio.to_thread(self.publish_once)
            except Exception:  # the outbox unwritable: the next round tries again
                log.exception("latency probe not published")
            await asyncio.sleep(max(0.0, self.settings.interval_s - (time.monotonic() - started)))

    # Consuming -----------------------------------------------------------------------------

    def handle(self, event: BusEvent) -> None:
        """The probe's handler: commit it, then record the latency. Raises when the database
        refuses (the bus retries the event)."""
        payload = event.payload
        if not isinstance(payload, dict) or not isinstance(payload.get("probe"), str):
            log.warning("latency monitor: not a probe on %s: %s", event.topic, event.id)
            return
        received = self._clock()
        published = event.created_at.timestamp()
        row = {
            "probe_id": payload["probe"],
            "agent": str(payload.get("agent", "")),
            "seq": int(payload.get("seq", 0)),
            "published_at": published,
            "received_at": received,
        }
        self.store.run(lambda connection: self._insert(connection, row))
        committed = self._clock()
        self.handled += 1
        if row["agent"] == self.instance:
            self.window.committed(row["probe_id"], published, committed)
        if committed - self._pruned_at >= self.settings.prune_every_s:
            self.prune(committed)

    def _insert(self, connection: Connection, row: dict[str, Any]) -> None:
        if connection.dialect.name == "postgresql":
            timeout_ms = int(self.settings.commit_timeout_s * 1000)
            connection.exec_driver_sql(f"SET LOCAL statement_timeout = {timeout_ms}")
            statement: Any = postgresql.insert(latency_probes)
        else:
            statement = sqlite.insert(latency_probes)
        # A redelivered probe (at-least-once on the wire) is already there: nothing to do.
        connection.execute(statement.values(row).on_conflict_do_nothing())

    def prune(self, now: float | None = None) -> int:
        """Rows older than retention_s, then beyond the newest max_rows; how many went."""
        now = self._clock() if now is None else now
        with self._prune_lock:
            self._pruned_at = now
            try:
                return self.store.run(lambda connection: self._prune(connection, now))
            except StoreError as exc:
                log.warning("latency probes not pruned: %s", exc)
                return 0

    def _prune(self, connection: Connection, now: float) -> int:
        t = latency_probes
        old = connection.execute(
            delete(t).where(t.c.published_at < now - self.settings.retention_s)
        )
        cutoff = connection.execute(
            select(t.c.published_at)
            .order_by(t.c.published_at.desc())
            .offset(self.settings.max_rows - 1)
            .limit(1)
        ).scalar_one_or_none()
        extra = (
            connection.execute(delete(t).where(t.c.published_at < cutoff)).rowcount
            if cutoff is not None
            else 0
        )
        return int(old.rowcount or 0) + int(extra or 0)

    # Reading -------------------------------------------------------------------------------

    def stats(self) -> LatencyStats:
        return self.window.stats()

    def average_latency(self) -> float | None:
        return self.window.stats().avg_ms


def ensure_topic(bus: EventBusSettings, topic: str, timeout_s: float = 10.0) -> None:
    """Create the probe topic (one partition) unless it exists; a failure is only logged (the
    bus makes topics on first publish, later)."""
    config: dict[str, Any] = {**bus.client_config(), "logger": client_logger()}
    admin = AdminClient(config)
    futures = admin.create_topics(
        [NewTopic(topic, 1, bus.topic_replication_factor)], request_timeout=timeout_s
    )
    try:
        futures[topic].result(timeout=timeout_s)
    except KafkaException as exc:
        error = exc.args[0] if exc.args else None
        if getattr(error, "code", lambda: None)() != KafkaError.TOPIC_ALREADY_EXISTS:
            log.warning("latency monitor: probe topic %s not created: %s", topic, exc)
    except Exception as exc:  # a timeout of the future
        log.warning("latency monitor: probe topic %s not created: %s", topic, exc)


_current: LatencyMonitor | None = None


def set_latency_monitor(monitor: LatencyMonitor | None) -> None:
    """The agent's runtime installs its monitor at start (None again at stop)."""
    global _current
    _current = monitor


def get_average_latency() -> float | None:
    """The spec's function: the mean ingest→commit latency in ms over the window of the
    running agent's monitor (pending probes counted with their age so far); None when the
    agent runs none or nothing was measured in the window."""
    monitor = _current
    return None if monitor is None else monitor.average_latency()
