"""Publish→handler latency and throughput through the agent's EventBus.

    .venv/bin/python bench/eventbus_latency.py                      # local tansu, 2000 events
    .venv/bin/python bench/eventbus_latency.py --bootstrap lab1:9092 -n 10000

Latency is measured from just before publish() (outbox commit included) to the handler call,
in one process, so both ends share a clock. Events are published at --rate per second
(0: as fast as possible, which measures queueing more than latency).

Each run publishes to a topic of its own, bench.latency.<random>, and deletes it (and its
consumer group) with the admin client when it ends, also on an error, Ctrl-C or SIGTERM.
--delete-leftovers first deletes bench.latency.* topics that earlier runs left behind
(only when no other run is using the broker).
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import socket
import statistics
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

from benchlib import percentile, print_header
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient

from appliance.events import BusEvent, EventBus, EventBusSettings
from controller import artifacts


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def local_tansu() -> Iterator[str]:
    directory = artifacts.default_dir()
    try:
        binary = artifacts.verify(directory, "tansu")
    except artifacts.ArtifactError:
        artifacts.fetch(directory, ["tansu"])
        binary = artifacts.verify(directory, "tansu")
    port = free_port()
    url = f"tcp://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [str(binary), "broker", "--listener-url", url, "--advertised-listener-url", url,
         "--storage-engine", "memory://tansu/"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise SystemExit("tansu did not start") from None
                time.sleep(0.01)
        yield f"127.0.0.1:{port}"
    finally:
        proc.kill()
        proc.wait()


TOPIC_PREFIX = "bench.latency."


def delete_topics(settings: EventBusSettings, topics: list[str], group: str | None) -> None:
    """Delete the bench's topics (and consumer group); say what happened, never raise."""
    admin = AdminClient(settings.client_config())
    for topic, future in admin.delete_topics(
        topics, operation_timeout=10, request_timeout=10
    ).items():
        try:
            future.result(15)
            print(f"deleted topic {topic}")
        except KafkaException as exc:
            error = exc.args[0]
            if isinstance(error, KafkaError) and error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
                print(f"topic {topic} was never created")
            else:
                print(f"could NOT delete topic {topic}: {exc} (delete it by hand)")
    if group:
        try:
            admin.delete_consumer_groups([group], request_timeout=10)[group].result(15)
            print(f"deleted consumer group {group}")
        except KafkaException as exc:
            print(f"could not delete consumer group {group}: {exc}")


def delete_leftovers(settings: EventBusSettings) -> None:
    admin = AdminClient(settings.client_config())
    leftovers = sorted(
        t for t in admin.list_topics(timeout=10).topics if t.startswith(TOPIC_PREFIX)
    )
    if leftovers:
        delete_topics(settings, leftovers, None)
    else:
        print(f"no {TOPIC_PREFIX}* topics left behind")


def run(args: argparse.Namespace, bootstrap: str, outbox: Path) -> None:
    settings = EventBusSettings(
        bootstrap_servers=bootstrap,
        outbox_path=outbox,
        outbox_synchronous=args.synchronous,
        group_id=f"bench-{uuid.uuid4().hex[:8]}",
        session_timeout_ms=2000,
        linger_ms=args.linger_ms,
        fetch_wait_max_ms=args.fetch_wait_ms,
    )
    if args.delete_leftovers:
        delete_leftovers(settings)
    topic = f"{TOPIC_PREFIX}{uuid.uuid4().hex[:8]}"
    try:
        measure(args, settings, topic)
    finally:  # also on an error, Ctrl-C or SIGTERM: the run's topic does not outlive it
        delete_topics(settings, [topic], settings.group_id)


def measure(args: argparse.Namespace, settings: EventBusSettings, topic: str) -> None:
    bootstrap = settings.bootstrap_servers
    started: dict[int, float] = {}
    latencies: list[float] = []
    by_index: list[tuple[int, float]] = []  # (event index, latency): the run's course
    done = threading.Event()
    lock = threading.Lock()

    def handler(event: BusEvent) -> None:
        now = time.perf_counter()
        with lock:
            start = started.get(event.payload.get("i", -1))
            if start is not None:  # the warm-up event has no index
                latencies.append(now - start)
                by_index.append((event.payload["i"], now - start))
                if len(latencies) == args.n:
                    done.set()

    with EventBus(settings) as bus:
        sub = bus.subscribe(topic, handler)
        # Warm up: topic creation, group join and first fetch are not what we measure.
        bus.publish(topic, {"warmup": True})
        if not sub.wait_assigned(30) or not bus.wait_until_delivered(30):
            raise SystemExit("broker not ready within 30 s")
        time.sleep(0.5)

        publish_times: list[float] = []
        interval = 1 / args.rate if args.rate > 0 else 0.0
        t0 = time.perf_counter()
        for i in range(args.n):
            if interval:
                # Pace against the schedule, not the previous call: no drift.
                delay = t0 + i * interval - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
            before = time.perf_counter()
            with lock:  # registered before the handler can possibly see it
                started[i] = before
            bus.publish(topic, {"i": i, "pad": "x" * args.size}, key=f"k{i % 8}")
            publish_times.append(time.perf_counter() - before)
        published = time.perf_counter() - t0
        if not done.wait(args.timeout):
            raise SystemExit(f"only {len(latencies)}/{args.n} events arrived in {args.timeout} s")
        total = time.perf_counter() - t0

    ms = [x * 1000 for x in latencies]
    pub_ms = [x * 1000 for x in publish_times]
    print(f"broker        {bootstrap}  ({args.n} events, {args.size} B payload, "
          f"rate {'max' if not args.rate else args.rate}/s, outbox synchronous={args.synchronous}, "
          f"linger {args.linger_ms} ms, fetch wait {args.fetch_wait_ms} ms)")  # fmt: skip
    print(
        f"publish()     p50 {percentile(pub_ms, 50):7.2f} ms  p99 {percentile(pub_ms, 99):7.2f} ms"
    )
    print(
        f"publish→handler p50 {percentile(ms, 50):7.2f} ms  p99 {percentile(ms, 99):7.2f} ms  "
        f"max {max(ms):7.2f} ms  mean {statistics.fmean(ms):7.2f} ms"
    )
    print(
        f"throughput    publish {args.n / published:8.0f} ev/s   "
        f"end-to-end {args.n / total:8.0f} ev/s"
    )
    if args.trend:
        print(f"course        p50/p99 ms per {args.trend} events: {course(by_index, args.trend)}")


def course(by_index: list[tuple[int, float]], window: int) -> str:
    """p50/p99 of each window of events in publish order: a latency that grows as the run
    goes on (the outbox or the broker filling) shows here, not in the run's p99."""
    windows: dict[int, list[float]] = {}
    for i, latency in by_index:
        windows.setdefault(i // window, []).append(latency * 1000)
    return " ".join(
        f"{percentile(v, 50):.0f}/{percentile(v, 99):.0f}" for _, v in sorted(windows.items())
    )


def interrupted(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", help="HOST:PORT of a broker; default: start a local tansu")
    parser.add_argument("-n", type=int, default=2000, help="events to measure")
    parser.add_argument("--rate", type=float, default=500, help="events/s; 0 = unpaced")
    parser.add_argument("--size", type=int, default=100, help="payload padding in bytes")
    parser.add_argument("--synchronous", choices=["FULL", "NORMAL"], default="FULL")
    parser.add_argument("--linger-ms", type=int, default=EventBusSettings().linger_ms)
    parser.add_argument("--fetch-wait-ms", type=int, default=EventBusSettings().fetch_wait_max_ms)
    parser.add_argument("--outbox", type=Path, help="outbox file (default: a temporary one)")
    parser.add_argument("--timeout", type=float, default=120)
    parser.add_argument(
        "--trend", type=int, default=0, metavar="N", help="also p50/p99 per N events, in order"
    )
    parser.add_argument(
        "--delete-leftovers", action="store_true", help=f"delete {TOPIC_PREFIX}* topics first"
    )
    args = parser.parse_args()
    print_header()
    signal.signal(signal.SIGTERM, interrupted)
    try:
        with tempfile.TemporaryDirectory(prefix="eventbus-bench-") as tmp:
            outbox = args.outbox or Path(tmp) / "events.db"
            if args.bootstrap:
                run(args, args.bootstrap, outbox)
            else:
                with local_tansu() as bootstrap:
                    run(args, bootstrap, outbox)
    except KeyboardInterrupt:
        raise SystemExit("interrupted: no figures") from None


if __name__ == "__main__":
    main()
