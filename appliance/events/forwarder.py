"""Outbox → broker (confluent-kafka / librdkafka producer): the sending half of the delivery
contract (see appliance/events/__init__.py).

At-least-once on the wire: the forwarder re-sends whatever the broker did not acknowledge.
Per-key order holds because rows are produced in outbox order by an idempotent producer (the
broker keeps a producer's writes to a partition gap-free and in order) and, after any doubt,
a fresh producer re-sends every unacknowledged row from the oldest one.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer
from confluent_kafka.admin import AdminClient

from appliance.events.broker import probe_broker
from appliance.events.clientlog import client_logger
from appliance.events.outbox import ForwarderLock, Outbox, OutboxRow
from appliance.events.settings import EventBusSettings
from appliance.events.topics import Topics
from appliance.health.journal import ThrottledLog

log = logging.getLogger(__name__)
_unreachable = ThrottledLog(log, interval_s=60.0)

# The broker will never accept these rows; retrying would block their key forever.
_PERMANENT = frozenset(
    {
        KafkaError.MSG_SIZE_TOO_LARGE,
        KafkaError.INVALID_MSG_SIZE,
        KafkaError.RECORD_LIST_TOO_LARGE,
        KafkaError.INVALID_RECORD,
        KafkaError.TOPIC_EXCEPTION,
        KafkaError.TOPIC_AUTHORIZATION_FAILED,
        KafkaError._INVALID_ARG,
    }
)
_PURGED = frozenset({KafkaError._PURGE_QUEUE, KafkaError._PURGE_INFLIGHT})


class Forwarder:
    """Background thread: pending outbox rows → broker, marked delivered on the delivery report."""

    def __init__(self, settings: EventBusSettings, outbox: Outbox, wake: threading.Event) -> None:
        self._s = settings
        self._outbox = outbox
        self._wake = wake
        self._stop = threading.Event()
        self._lock = ForwarderLock(settings.outbox_path)
        self._thread = threading.Thread(target=self._run, name="eventbus-forwarder", daemon=True)
        self._producer: Producer | None = None
        self._admin: AdminClient | None = None
        self._inflight: dict[int, float] = {}  # seq → monotonic time produced
        self._hwm = 0  # highest seq handed to the current producer
        self._reports: list[tuple[int, KafkaError | None]] = []
        self._delivered: list[int] = []  # acknowledged, not yet marked in the outbox
        self._marked_at = 0.0
        self._last_report = 0.0
        self._broker_down = False
        self._fatal: str | None = None
        self._topics = Topics(settings)
        self._backoff = settings.backoff_initial_s
        self.resets = 0  # producers discarded; tests and health read it

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)

    # -- thread --------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                if not self._lock.try_acquire():
                    # Another bus (maybe another process) forwards this outbox.
                    self._stop.wait(self._s.idle_poll_s)
                    continue
                try:
                    self._step()
                except Exception:  # the thread must outlive any one bad round
                    log.exception("event forwarder: unexpected error; resetting the producer")
                    self._reset("unexpected error")
            self._drain()
        finally:
            self._lock.release()

    def _step(self) -> None:
        if self._producer is None and not self._connect():
            return
        assert self._producer is not None
        # Cleared before reading the outbox: a publish after this read wakes the wait below.
        self._wake.clear()
        produced = self._produce_pending()
        self._producer.poll(0)  # serves delivery reports and error callbacks
        self._handle_reports()
        now = time.monotonic()
        if self._fatal is not None:
            self._reset(f"fatal producer error: {self._fatal}")
        elif self._broker_down:
            if self._inflight:
                self._reset("all brokers down")
            else:
                self._recheck_idle_broker()
        elif self._inflight and now - max(self._last_report, min(self._inflight.values())) > (
            self._s.stall_timeout_s
        ):
            self._reset(f"no delivery report for {self._s.stall_timeout_s:g} s")
        elif len(self._inflight) >= self._s.max_in_flight:
            self._producer.poll(0.005)  # no room: only a delivery report makes some
        elif not produced:
            # Woken by publish() at once; with rows in flight, back within 5 ms for their
            # reports. (Waiting in producer.poll() instead left a publish unseen for up to 5 ms.)
            self._wake.wait(0.005 if self._inflight else self._s.idle_poll_s)

    def _connect(self) -> bool:
        """Create a producer once the cluster answers; back off while it does not."""
        if self._admin is None:
            config: dict[str, Any] = {
                **self._s.client_config(),
                "client.id": self._client_id(),
                "logger": client_logger(),
            }
            self._admin = AdminClient(config)
        latency, error = probe_broker(self._admin, self._s.metadata_timeout_s)
        if latency is None:
            # Throttled: while the broker stays down this repeats every backoff (up to 5 s).
            _unreachable.log(
                logging.INFO, "unreachable", f"event forwarder: broker unreachable ({error})"
            )
            self._sleep_backoff()
            return False
        self._producer = Producer(
            {
                **self._s.client_config(),
                "client.id": self._client_id(),
                "enable.idempotence": True,
                "enable.gapless.guarantee": True,
                # Never expire: a stalled producer is detected and replaced by us, which keeps
                # the on-wire order a prefix of the outbox order.
                "message.timeout.ms": 0,
                "linger.ms": self._s.linger_ms,
                "reconnect.backoff.ms": int(self._s.backoff_initial_s * 1000),
                "reconnect.backoff.max.ms": int(self._s.backoff_max_s * 1000),
                "error_cb": self._on_error,
                "logger": client_logger(),
            }
        )
        _unreachable.flush()  # the outage's summary, now that it is over
        self._broker_down = False
        self._fatal = None
        self._hwm = 0
        self._last_report = time.monotonic()
        return True

    def _recheck_idle_broker(self) -> None:
        # Brokers drop idle connections, which also reads as "all brokers down": keep the
        # producer if the cluster still answers, else wait for it with backoff.
        assert self._admin is not None
        latency, error = probe_broker(self._admin, self._s.metadata_timeout_s)
        if latency is not None:
            self._broker_down = False
        else:
            self._reset(f"broker unreachable ({error})")

    def _client_id(self) -> str:
        return f"{self._s.client_id}-outbox"

    def _on_error(self, err: KafkaError) -> None:
        if err.fatal():
            self._fatal = err.str()
        elif err.code() == KafkaError._ALL_BROKERS_DOWN:
            self._broker_down = True
        log.debug("event forwarder: client error %s", err.str())

    def _produce_pending(self) -> int:
        assert self._producer is not None
        room = self._s.max_in_flight - len(self._inflight)
        if room <= 0 or self._broker_down:
            return 0
        assert self._admin is not None  # made before the producer
        produced = 0
        for row in self._outbox.pending(self._hwm, room):
            if not self._topics.ensure(self._admin, row.topic):
                self._sleep_backoff()
                break  # keep order: nothing after this row goes out before it
            try:
                self._producer.produce(
                    row.topic,
                    value=row.body,
                    key=row.key.encode() if row.key is not None else None,
                    headers=[("event_id", row.event_id), *row.headers.items()],
                    on_delivery=self._on_delivery(row),
                )
            except BufferError:
                break  # librdkafka's queue is full; the rest go next round
            except KafkaException as exc:
                err: KafkaError = exc.args[0]
                if err.code() not in _PERMANENT:
                    raise
                self._dead(row, err)
                self._hwm = row.seq
                continue
            self._inflight[row.seq] = time.monotonic()
            self._hwm = row.seq
            produced += 1
        return produced

    def _on_delivery(self, row: OutboxRow) -> Callable[[KafkaError | None, Message], None]:
        seq = row.seq

        def report(err: KafkaError | None, _msg: Message) -> None:
            self._reports.append((seq, err))

        return report

    def _handle_reports(self) -> None:
        if not self._reports:
            return
        reports, self._reports = self._reports, []
        self._last_report = time.monotonic()
        delivered: list[int] = []
        for seq, err in reports:
            self._inflight.pop(seq, None)
            if err is None:
                delivered.append(seq)
            elif err.code() in _PERMANENT:
                log.error(
                    "event forwarder: broker refuses outbox row %d for good: %s", seq, err.str()
                )
                self._outbox.mark_dead(seq, err.str())
            elif err.code() not in _PURGED:
                # Stays pending; the reset re-sends it in order after everything before it.
                self._fatal = self._fatal or err.str()
        if delivered:
            self._delivered += delivered
            self._backoff = self._s.backoff_initial_s
        self._mark_delivered(force=not self._inflight)

    def _mark_delivered(self, *, force: bool) -> None:
        """Marking rows delivered takes the file's write lock, behind the publishers' commits
        (3 ms p50 on a loaded machine) while nothing is produced: while rows are in flight, one
        transaction per 50 ms. Rows not marked at a crash are sent again (consumers dedupe)."""
        now = time.monotonic()
        if self._delivered and (force or now - self._marked_at >= 0.05):
            self._outbox.mark_delivered(self._delivered)
            self._delivered, self._marked_at = [], now

    def _dead(self, row: OutboxRow, err: KafkaError) -> None:
        log.error("event forwarder: broker refuses event %s for good: %s", row.event_id, err.str())
        self._outbox.mark_dead(row.seq, err.str())

    def _reset(self, why: str) -> None:
        """Discard the producer (and what it still holds); a fresh one re-sends from the outbox."""
        self.resets += 1
        log.warning(
            "event forwarder: %s; re-sending %d unacknowledged event(s) after %.2g s",
            why,
            len(self._inflight),
            self._backoff,
        )
        if self._producer is not None:
            self._producer.purge(in_queue=True, in_flight=True, blocking=False)
            self._producer.poll(0)
            self._handle_reports()
            self._producer.close()
            self._producer = None
        self._mark_delivered(force=True)  # the next producer starts from the outbox
        self._inflight.clear()
        self._reports.clear()
        self._topics.forget()
        self._fatal = None
        self._sleep_backoff()

    def _sleep_backoff(self) -> None:
        self._stop.wait(self._backoff)
        self._backoff = min(self._backoff * 2, self._s.backoff_max_s)

    def _drain(self) -> None:
        """On shutdown: give in-flight rows a moment to be acknowledged; the rest stay pending."""
        if self._producer is not None and self._inflight:
            self._producer.flush(min(self._s.stall_timeout_s, 2.0))
            self._handle_reports()
        self._mark_delivered(force=True)
        if self._producer is not None:
            self._producer.purge(in_queue=True, in_flight=True, blocking=False)
            self._producer.close()
        self._producer = None
        self._admin = None
