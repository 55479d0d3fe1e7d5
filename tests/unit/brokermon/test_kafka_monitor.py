"""The Kafka monitor against a real broker (tansu 0.6): topics, partitions, and a consumer
group's lag per topic from its committed offsets; an unreachable broker; the health check."""

from __future__ import annotations

import asyncio
import time

from confluent_kafka import Consumer, Producer
from confluent_kafka.cimpl import NewTopic

from appliance.brokermon.checks import KafkaCheck
from appliance.brokermon.kafka import KafkaMonitor, KafkaReader
from appliance.brokermon.settings import KafkaMonitorSettings
from appliance.health.models import ServiceStatus
from tests.support import free_port


def make_topics(bootstrap: str, topics: dict[str, int]) -> None:
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics([NewTopic(t, n, 1) for t, n in topics.items()])
    for future in futures.values():
        future.result(10)


def produce(bootstrap: str, topic: str, count: int) -> None:
    """In batches of several records (linger), as a busy producer sends them."""
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 50})
    for i in range(count):
        producer.produce(topic, key=str(i).encode(), value=b"x")
    assert producer.flush(10) == 0


def consume_and_commit(bootstrap: str, group: str, topic: str, count: int) -> None:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "session.timeout.ms": 2000,
            "heartbeat.interval.ms": 500,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([topic])
    done, deadline = 0, time.monotonic() + 30
    while done < count and time.monotonic() < deadline:
        msg = consumer.poll(0.2)
        if msg is None or msg.error() is not None:
            continue
        consumer.commit(message=msg, asynchronous=False)
        done += 1
    consumer.close()
    assert done == count


def test_topics_partitions_and_lag_per_group_and_topic(bootstrap: str) -> None:
    make_topics(bootstrap, {"orders": 3, "audit": 1})
    produce(bootstrap, "orders", 30)
    produce(bootstrap, "audit", 10)
    consume_and_commit(bootstrap, "billing", "orders", 12)
    consume_and_commit(bootstrap, "auditor", "audit", 10)

    s = KafkaReader({"bootstrap.servers": bootstrap}, KafkaMonitorSettings()).read()

    assert s.reachable and s.error is None, s.error
    assert s.brokers == 1
    assert s.topics == {"audit": 1, "orders": 3} and s.partitions == 4
    lags = {(g.group, g.topic): g.lag for g in s.lags}
    assert lags == {("billing", "orders"): 30 - 12, ("auditor", "audit"): 0}


def test_listoffsets_alone_understates_the_lag_on_tansu(bootstrap: str) -> None:
    """Why end offsets are confirmed by a fetch: Tansu 0.6 answers ListOffsets(latest) with
    its last batch's base offset + 1, so 10 records sent in one batch read as lag 1."""
    make_topics(bootstrap, {"bulk": 1})
    produce(bootstrap, "bulk", 1)
    consume_and_commit(bootstrap, "g", "bulk", 1)
    produce(bootstrap, "bulk", 10)  # one batch of 10 at offsets 1..10: the end is 11

    listed = KafkaReader(
        {"bootstrap.servers": bootstrap}, KafkaMonitorSettings(confirm_end_offsets=False)
    ).read()
    confirmed = KafkaReader({"bootstrap.servers": bootstrap}, KafkaMonitorSettings()).read()

    assert [g.lag for g in confirmed.lags] == [10]
    assert [g.lag for g in listed.lags] == [1]  # the broker's ListOffsets as it stands today


def test_an_unreachable_broker_is_a_sample_saying_why_and_the_check_is_down() -> None:
    settings = KafkaMonitorSettings(timeout_s=1.0)
    monitor = KafkaMonitor(
        KafkaReader({"bootstrap.servers": f"127.0.0.1:{free_port()}"}, settings), settings
    )
    s = monitor.sample_once()
    assert not s.reachable and s.error
    probe = asyncio.run(KafkaCheck(monitor).probe())
    assert probe.status is ServiceStatus.DOWN
    assert probe.details["reachable"] is False


def test_the_check_reports_the_last_sample_and_degrades_beyond_the_lag_threshold(
    bootstrap: str,
) -> None:
    make_topics(bootstrap, {"jobs": 2})
    produce(bootstrap, "jobs", 20)
    consume_and_commit(bootstrap, "workers", "jobs", 5)
    settings = KafkaMonitorSettings(lag_threshold=10)
    monitor = KafkaMonitor(KafkaReader({"bootstrap.servers": bootstrap}, settings), settings)
    check = KafkaCheck(monitor)
    assert asyncio.run(check.probe()).status is ServiceStatus.UP  # not sampled: no verdict
    monitor.sample_once()
    probe = asyncio.run(check.probe())
    assert probe.status is ServiceStatus.DEGRADED
    assert probe.message == "workers is 15 messages behind on jobs"
    assert probe.details["topics"] == {"jobs": 2}
    assert probe.details["lag"] == [
        {"group": "workers", "topic": "jobs", "lag": 15, "partitions": 2}
    ]
