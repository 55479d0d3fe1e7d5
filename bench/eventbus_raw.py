"""The raw confluent-kafka side of bench/eventbus.py (the limits the bus is measured against),
and the helpers both sides share: topics, filling one, pacing, the disk's commit latency."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from benchlib import percentile
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic
from eventbus_latency import TOPIC_PREFIX

from appliance.events.envelope import new_event
from appliance.events.outbox import connect


def fsync_probe(path: Path, n: int = 200) -> tuple[float, float]:
    """The disk's share: one-row commits at synchronous=FULL (what a lone publish waits for)."""
    db = connect(path, "FULL")
    db.execute("CREATE TABLE IF NOT EXISTS t (x BLOB)")
    times = []
    for _ in range(n):
        start = time.perf_counter()
        db.execute("INSERT INTO t VALUES (zeroblob(300))")
        times.append((time.perf_counter() - start) * 1000)
    db.close()
    return percentile(times, 50), percentile(times, 99)


class RawGroupCommit:
    """The anchor for the bus's many-publisher figure: about the least Python a durable group
    commit from many threads can be (one Condition, the first waiter commits everything queued
    in one executemany at synchronous=FULL), without the bus's envelope, savepoints or seqs."""

    def __init__(self, path: Path) -> None:
        self.db = connect(path, "FULL")
        self.db.execute("CREATE TABLE IF NOT EXISTS t (id TEXT PRIMARY KEY, body BLOB)")
        self.cond = threading.Condition()
        self.queue: list[tuple[str, bytes]] = []
        self.open = 0  # the batch rows queued now will go in
        self.done = -1  # the last batch committed
        self.busy = False
        self.commits = 0

    def append(self, row: tuple[str, bytes]) -> None:
        with self.cond:
            self.queue.append(row)
            mine = self.open
            while self.done < mine:
                if self.busy:
                    self.cond.wait()
                    continue
                self.busy, rows, self.queue = True, self.queue, []
                batch, self.open = self.open, self.open + 1
                self.cond.release()
                try:
                    self.db.execute("BEGIN IMMEDIATE")
                    self.db.executemany("INSERT INTO t VALUES (?, ?)", rows)
                    self.db.execute("COMMIT")
                finally:
                    self.cond.acquire()
                self.done, self.busy, self.commits = batch, False, self.commits + 1
                self.cond.notify_all()


def raw_group_commit(path: Path, n: int, threads: int) -> tuple[float, float]:
    """(rows/s, rows per commit) of RawGroupCommit from ``threads`` threads."""
    store = RawGroupCommit(path)
    per = n // threads
    body = b"x" * 250

    def writer() -> None:
        for _ in range(per):
            store.append((uuid.uuid4().hex, body))

    workers = [threading.Thread(target=writer) for _ in range(threads)]
    start = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - start
    store.db.close()
    return per * threads / elapsed, per * threads / max(1, store.commits)


def new_topic(admin: AdminClient, partitions: int) -> str:
    topic = f"{TOPIC_PREFIX}{uuid.uuid4().hex[:8]}"
    admin.create_topics([NewTopic(topic, partitions, 1)])[topic].result(10)
    return topic


def fill(bootstrap: str, topic: str, n: int) -> None:
    """n bus envelopes on the topic, keyed over 8 keys, as the forwarder would write them."""
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20})
    now = datetime.now(UTC)
    for i in range(n):
        _, body = new_event(topic, {"i": i, "pad": "x" * 100}, key=f"k{i % 8}",
                            schema_version=1, now=now)  # fmt: skip
        while True:
            try:
                producer.produce(topic, body, key=f"k{i % 8}")
                break
            except BufferError:
                producer.poll(0.05)
    if producer.flush(60):
        raise SystemExit("could not fill the topic")


def raw_consume(bootstrap: str, topic: str, n: int) -> float:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"raw-{uuid.uuid4().hex[:8]}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})  # fmt: skip
    consumer.subscribe([topic])
    got, start = 0, 0.0
    deadline = time.monotonic() + 120
    while got < n and time.monotonic() < deadline:
        batch = consumer.consume(500, 0.5)
        if batch and not start:
            start = time.perf_counter()
        got += sum(1 for m in batch if m.error() is None)
    elapsed = time.perf_counter() - start
    consumer.close()
    return n / elapsed


def raw_publish(bootstrap: str, topic: str, n: int) -> float:
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, "acks": "all"})
    body = b"x" * 250
    start = time.perf_counter()
    for i in range(n):
        while True:
            try:
                producer.produce(topic, body, key=f"k{i % 8}")
                break
            except BufferError:
                producer.poll(0.01)
    producer.flush(60)
    return n / (time.perf_counter() - start)


def paced(rate: float, n: int, send: Callable[[int], None]) -> None:
    """send(i) for i < n at rate/s against the schedule (no drift), from 16 threads: a durable
    publish waits for a commit, so one thread alone could not keep 2,000/s on a slow disk."""
    threads = 16
    t0 = time.perf_counter() + 0.05

    def worker(t: int) -> None:
        for i in range(t, n, threads):
            delay = t0 + i / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            send(i)

    workers = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()


def raw_e2e(bootstrap: str, topic: str, rate: float, n: int) -> tuple[float, float]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"raw-{uuid.uuid4().hex[:8]}",
                         "auto.offset.reset": "latest", "fetch.wait.max.ms": 20})  # fmt: skip
    assigned = threading.Event()
    consumer.subscribe([topic], on_assign=lambda _c, _p: assigned.set())
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    started = [0.0] * n
    latencies: list[float] = []
    while not assigned.is_set():
        consumer.poll(0.1)
    time.sleep(1)

    def send(i: int) -> None:
        started[i] = time.perf_counter()
        producer.produce(topic, str(i).encode(), key=f"k{i % 8}")
        producer.poll(0)

    sender = threading.Thread(target=paced, args=(rate, n, send))
    sender.start()
    deadline = time.monotonic() + 60
    while len(latencies) < n and time.monotonic() < deadline:
        msg = consumer.poll(0.1)
        if msg is not None and msg.error() is None:
            latencies.append(time.perf_counter() - started[int(msg.value() or b"0")])
    sender.join()
    producer.flush(10)
    consumer.close()
    ms = [x * 1000 for x in latencies]
    return percentile(ms, 50), percentile(ms, 99)
