"""The event bus against raw confluent-kafka on the same broker, in one run (issue 15, item 7).

    .venv/bin/python bench/eventbus.py                     # local tansu, 3 runs, medians
    .venv/bin/python bench/eventbus.py --bootstrap lab1:9092 --runs 3

Three figures, each beside the raw client's from the same run (the limit to approach):

- consume: events/s through subscribe() (decode, dedupe window, handler, dedupe rows and offset
  commit per batch) from a topic filled beforehand; raw: a bare Consumer's consume(500) loop;
- publish: events/s through publish() from --publishers threads, each returning once its row is
  durable in the outbox (synchronous=FULL, group commit; the forwarder off, so this is the outbox
  alone), and through publish_many() of 500 events from one thread; raw: Producer.produce +
  flush (acks=all) to the broker, and a bare SQLite group commit from as many threads (its
  anchor: what CPython's thread hand-offs leave on this machine, see eventbus_raw.py);
- end to end at --rate ev/s: publish() → outbox → forwarder → broker → consumer → handler, p50 /
  p99 (one process, one clock); raw: produce → poll at the same rate.

The bench process's CPU time per event is printed too: on a shared machine it moves less
than the rates do. Each run uses topics of its own (bench.latency.<random>) and deletes them
at the end. With the local Tansu (no --bootstrap), each end-to-end figure has an empty broker
of its own, and raw and bus take turns to go first (see one_run).
"""

from __future__ import annotations

import argparse
import signal
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

from benchlib import percentile, print_header
from confluent_kafka.admin import AdminClient
from eventbus_latency import delete_topics, interrupted, local_tansu
from eventbus_raw import (
    fill,
    fsync_probe,
    new_topic,
    paced,
    raw_consume,
    raw_e2e,
    raw_group_commit,
    raw_publish,
)

from appliance.events import BusEvent, EventBus, EventBusSettings


@dataclass
class Figures:
    consume_bus: float
    consume_cpu_us: float  # the bench process's CPU time per event while the bus consumed
    consume_raw: float
    publish_bus: float
    publish_cpu_us: float
    rows_per_commit: float
    publish_one: float  # one publisher thread: one fsync per event
    publish_many: float  # publish_many() of 500 events at a time, one thread
    publish_raw: float
    group_commit_raw: tuple[float, float]  # rows/s, rows per commit: bare SQLite, same threads
    e2e_bus: tuple[float, float]  # p50, p99 ms
    e2e_raw: tuple[float, float]
    e2e_normal: tuple[float, float]  # the bus with its SQLite file at synchronous=NORMAL
    fsync: tuple[float, float]  # p50, p99 ms of one small commit at FULL, during the run


def bus_consume(settings: EventBusSettings, topic: str, n: int) -> tuple[float, float]:
    """(events/s, CPU µs per event) from the first event handled to the last."""
    count = 0
    first = last = cpu = 0.0
    done = threading.Event()

    def handler(_event: BusEvent) -> None:
        nonlocal count, first, last, cpu
        count += 1
        if count == 1:
            first, cpu = time.perf_counter(), time.process_time()
        if count == n:
            last, cpu = time.perf_counter(), time.process_time() - cpu
            done.set()

    with EventBus(settings, forward=False) as bus:
        bus.subscribe(topic, handler)
        if not done.wait(120):
            raise SystemExit(f"bus consumed only {count}/{n}")
    return (n - 1) / (last - first), cpu / (n - 1) * 1e6


def bus_publish(settings: EventBusSettings, n: int, threads: int) -> tuple[float, float, float]:
    """(events/s, CPU µs per event, rows per commit) with ``threads`` concurrent publishers."""
    with EventBus(settings, forward=False) as bus:
        per = n // threads

        def publisher(t: int) -> None:
            for i in range(per):
                bus.publish("bench.publish", {"t": t, "i": i, "pad": "x" * 100}, key=f"k{i % 8}")

        workers = [threading.Thread(target=publisher, args=(t,)) for t in range(threads)]
        start, cpu = time.perf_counter(), time.process_time()
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
        commits = bus._outbox.commits  # the bench may look inside
    total = per * threads
    return total / elapsed, cpu / total * 1e6, total / max(1, commits)


def bus_publish_many(settings: EventBusSettings, n: int, chunk: int = 500) -> float:
    with EventBus(settings, forward=False) as bus:
        start = time.perf_counter()
        for base in range(0, n, chunk):
            bus.publish_many(
                [("bench.publish", {"i": i, "pad": "x" * 100}, f"k{i % 8}")
                 for i in range(base, min(n, base + chunk))]
            )  # fmt: skip
        return n / (time.perf_counter() - start)


def bus_e2e(settings: EventBusSettings, topic: str, rate: float, n: int) -> tuple[float, float]:
    started = [0.0] * n
    latencies: list[float] = []
    done = threading.Event()

    def handler(event: BusEvent) -> None:
        i = event.payload.get("i")
        if i is None:
            return  # warm-up
        latencies.append(time.perf_counter() - started[i])
        if len(latencies) == n:
            done.set()

    def send(i: int) -> None:
        started[i] = time.perf_counter()
        bus.publish(topic, {"i": i, "pad": "x" * 100}, key=f"k{i % 8}")

    with EventBus(settings) as bus:
        sub = bus.subscribe(topic, handler)
        bus.publish(topic, {"warmup": True})
        if not sub.wait_assigned(30) or not bus.wait_until_delivered(30):
            raise SystemExit("broker not ready within 30 s")
        time.sleep(0.5)
        paced(rate, n, send)
        if not done.wait(60):
            raise SystemExit(f"only {len(latencies)}/{n} events arrived")
    ms = [x * 1000 for x in latencies]
    return percentile(ms, 50), percentile(ms, 99)


Broker = Callable[[], AbstractContextManager[str]]


def one_run(args: argparse.Namespace, broker: Broker, tmp: Path, run: int) -> Figures:
    """One run's figures. ``broker()`` gives the broker to use: with a local Tansu, a fresh
    one for the throughput figures and one for each end-to-end figure, which otherwise would
    depend on their order (Tansu's in-memory store slows as it fills: on one broker, raw
    produce → poll p99 grew from ~20 to ~50 ms over four 20,000-event runs). The order of the
    end-to-end figures alternates from run to run."""

    def settings(bootstrap: str, name: str, **extra: object) -> EventBusSettings:
        values: dict[str, object] = {
            "bootstrap_servers": bootstrap, "outbox_path": tmp / f"{name}.db",
            "group_id": f"bench-{uuid.uuid4().hex[:8]}", "session_timeout_ms": 2000, **extra,
        }  # fmt: skip
        return EventBusSettings.model_validate(values)

    with broker() as bootstrap, topics_of(bootstrap) as new:
        filled = new()
        fill(bootstrap, filled, args.consume_n)
        consume_raw = raw_consume(bootstrap, filled, args.consume_n)
        consume_bus, consume_cpu = bus_consume(
            settings(bootstrap, "consume"), filled, args.consume_n
        )
        publish_raw = raw_publish(bootstrap, new(), args.publish_n)
        group_raw = raw_group_commit(tmp / "raw_group.db", args.publish_n, args.publishers)
        publish_bus, publish_cpu, per_commit = bus_publish(
            settings(bootstrap, "publish"), args.publish_n, args.publishers
        )
        publish_one, _, _ = bus_publish(settings(bootstrap, "publish1"), args.publish_n // 20, 1)
        publish_many = bus_publish_many(settings(bootstrap, "publish_many"), args.publish_n)

    def e2e_raw() -> tuple[float, float]:
        with broker() as bootstrap, topics_of(bootstrap) as new:
            return raw_e2e(bootstrap, new(), args.rate, args.e2e_n)

    def e2e_bus(name: str, **extra: object) -> tuple[float, float]:
        with broker() as bootstrap, topics_of(bootstrap) as new:
            return bus_e2e(settings(bootstrap, name, **extra), new(), args.rate, args.e2e_n)

    if run % 2:
        bus = e2e_bus("e2e")
        raw = e2e_raw()
    else:
        raw = e2e_raw()
        bus = e2e_bus("e2e")
    e2e_normal = e2e_bus("e2e_normal", outbox_synchronous="NORMAL")
    fsync = fsync_probe(tmp / "fsync.db")
    return Figures(consume_bus, consume_cpu, consume_raw, publish_bus, publish_cpu, per_commit,
                   publish_one, publish_many, publish_raw, group_raw, bus, raw, e2e_normal,
                   fsync)  # fmt: skip


@contextmanager
def topics_of(bootstrap: str) -> Iterator[Callable[[], str]]:
    """New topics on the broker (3 partitions each), all deleted at the end."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    topics: list[str] = []

    def new() -> str:
        topics.append(topic := new_topic(admin, 3))
        return topic

    try:
        yield new
    finally:
        delete_topics(EventBusSettings(bootstrap_servers=bootstrap), topics, None)


def report(args: argparse.Namespace, runs: list[Figures]) -> None:
    def med(get: Callable[[Figures], float]) -> float:
        return statistics.median(get(f) for f in runs)

    print(f"\n{len(runs)} run(s), medians; each figure beside raw confluent-kafka's from the "
          "same run")  # fmt: skip
    print(
        f"consume   bus {med(lambda f: f.consume_bus):9.0f} ev/s   "
        f"raw {med(lambda f: f.consume_raw):9.0f} msg/s   ({args.consume_n} events; bus CPU "
        f"{med(lambda f: f.consume_cpu_us):.0f} µs/event)"
    )
    print(
        f"publish   bus {med(lambda f: f.publish_bus):9.0f} ev/s   "
        f"raw {med(lambda f: f.publish_raw):9.0f} msg/s   ({args.publishers} publishers, "
        f"durable, {med(lambda f: f.rows_per_commit):.1f} rows/commit, CPU "
        f"{med(lambda f: f.publish_cpu_us):.0f} µs/event)\n"
        f"          bare SQLite group commit, same threads "
        f"{med(lambda f: f.group_commit_raw[0]):.0f} rows/s "
        f"({med(lambda f: f.group_commit_raw[1]):.1f} rows/commit)\n"
        f"          one publisher {med(lambda f: f.publish_one):.0f} ev/s; publish_many of 500 "
        f"{med(lambda f: f.publish_many):.0f} ev/s"
    )
    print(
        f"e2e @{args.rate:.0f}/s bus p50 {med(lambda f: f.e2e_bus[0]):6.2f} ms "
        f"p99 {med(lambda f: f.e2e_bus[1]):6.2f} ms   raw p50 "
        f"{med(lambda f: f.e2e_raw[0]):6.2f} ms p99 {med(lambda f: f.e2e_raw[1]):6.2f} ms\n"
        f"          bus at synchronous=NORMAL p50 {med(lambda f: f.e2e_normal[0]):6.2f} ms p99 "
        f"{med(lambda f: f.e2e_normal[1]):6.2f} ms; one FULL commit here p50 "
        f"{med(lambda f: f.fsync[0]):.2f} ms p99 {med(lambda f: f.fsync[1]):.2f} ms"
    )
    for i, f in enumerate(runs, 1):
        print(f"  run {i}: consume {f.consume_bus:.0f}/{f.consume_raw:.0f}  publish "
              f"{f.publish_bus:.0f}/{f.publish_raw:.0f} (sqlite {f.group_commit_raw[0]:.0f}, "
              f"one {f.publish_one:.0f}, many "
              f"{f.publish_many:.0f})  e2e p50/p99 {f.e2e_bus[0]:.1f}/{f.e2e_bus[1]:.1f} ms, "
              f"raw {f.e2e_raw[0]:.1f}/{f.e2e_raw[1]:.1f} ms")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", help="HOST:PORT of a broker; default: start a local tansu")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--consume-n", type=int, default=50_000)
    parser.add_argument("--publish-n", type=int, default=20_000)
    parser.add_argument("--publishers", type=int, default=64)
    parser.add_argument("--rate", type=float, default=2000)
    parser.add_argument("--e2e-n", type=int, default=20_000)
    parser.add_argument("--outbox-dir", type=Path, help="for the outboxes (default: a temp dir)")
    args = parser.parse_args()
    print_header()
    signal.signal(signal.SIGTERM, interrupted)
    runs: list[Figures] = []
    try:
        with tempfile.TemporaryDirectory(prefix="eventbus-bench-", dir=args.outbox_dir) as tmp:
            broker: Broker = (
                (lambda: nullcontext(args.bootstrap)) if args.bootstrap else local_tansu
            )
            for i in range(args.runs):
                runs.append(one_run(args, broker, Path(tmp) / str(i), i))
                report(args, runs[-1:])
    except KeyboardInterrupt:
        raise SystemExit("interrupted: no figures") from None
    report(args, runs)


if __name__ == "__main__":
    main()
