"""kill -9 of a consuming agent: handlers of at most one batch run again, every event handled.

The consumer sends a batch's offsets only after the batch's dedupe rows are on disk, so a
crash leaves uncommitted the batch in progress and those whose (asynchronous) offset commit had
not reached the broker yet: on restart those events come again; the ones recorded are dropped
by the dedupe window, the rest (handlers that ran before the crash, in the batch in progress)
run again. Nothing is skipped.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from appliance.events import EventBusSettings
from appliance.events.envelope import new_event
from tests.unit.events.conftest import Broker, wait_until

MakeSettings = Callable[..., EventBusSettings]
N = 3000
BATCH = 100

CONSUMER = """
import json, signal, sys, threading, time
from appliance.events import EventBus, EventBusSettings

settings = EventBusSettings.model_validate_json(sys.argv[1])
out = open(sys.argv[2], "a", buffering=1)  # a write(2) per line: kept by the kernel on kill -9

def handler(event):
    time.sleep(0.0005)  # a handler's work: the kill lands mid-stream
    out.write(f"{event.id}\\n")

stop = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: stop.set())
bus = EventBus(settings, forward=False)
sub = bus.subscribe("crash", handler)
stop.wait()
bus.close()  # the batch in progress is finished and recorded first
stats = {"handled": sub.handled, "duplicates": sub.duplicates}
print(json.dumps(stats), flush=True)
"""


def fill(bootstrap: str) -> set[str]:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic("crash", 3, 1)])["crash"].result(10)
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 10})
    ids = set()
    for i in range(N):
        event, body = new_event("crash", {"i": i}, key=f"k{i % 6}", schema_version=1,
                                now=datetime.now(UTC))  # fmt: skip
        producer.produce("crash", body, key=event.key)
        ids.add(str(event.id))
    assert producer.flush(10) == 0
    return ids


def lines(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []


def test_kill_9_mid_stream_reruns_at_most_one_batch(
    broker: Broker, make_settings: MakeSettings, tmp_path: Path
) -> None:
    settings = make_settings(broker.bootstrap, outbox_synchronous="FULL", consume_batch=BATCH)
    ids = fill(broker.bootstrap)
    handled = tmp_path / "handled.txt"
    argv = [sys.executable, "-c", CONSUMER, settings.model_dump_json(), str(handled)]

    first = subprocess.Popen(argv)
    wait_until(lambda: len(lines(handled)) >= N // 3, 60, "a third handled")
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    before_restart = lines(handled)
    assert len(before_restart) < N  # it died mid-stream

    second = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    wait_until(lambda: set(lines(handled)) >= ids, 60, "every event handled")
    second.send_signal(signal.SIGTERM)
    out, _ = second.communicate(timeout=20)
    stats = json.loads(out.strip().splitlines()[-1])

    every = lines(handled)
    assert set(every) == ids  # nothing skipped, nothing foreign
    reruns = len(every) - N  # handlers that ran in the first process and again in the second
    assert stats["handled"] == N - len(before_restart) + reruns
    assert 0 <= reruns <= BATCH, (reruns, stats)  # only the batch in progress runs again
