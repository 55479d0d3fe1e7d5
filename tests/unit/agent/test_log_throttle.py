"""librdkafka's log lines through the throttled logger, with a real client and no broker."""

from __future__ import annotations

import logging
import time

import pytest
from confluent_kafka import Producer

from appliance.events.clientlog import KafkaClientLog
from tests.support import free_port


def test_connection_errors_of_a_producer_with_no_broker_are_throttled(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="test.kafka")
    port = free_port()  # nothing listens: every reconnect fails at once
    producer = Producer(
        {
            "bootstrap.servers": f"127.0.0.1:{port}",
            "reconnect.backoff.ms": 50,
            "reconnect.backoff.max.ms": 50,
            "logger": KafkaClientLog(interval_s=30, logger=logging.getLogger("test.kafka")),
        }
    )
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:
        producer.poll(0.1)  # serves the log queue, as the forwarder's loop does
    records = [r for r in caplog.records if "Connect to" in r.getMessage()]
    lines = [r.getMessage() for r in records]
    # ~40 attempts in 2 s (one each 50 ms); the first is logged, the rest wait for a summary.
    assert len(lines) == 1, lines
    assert f"Connect to ipv4#127.0.0.1:{port} failed: Connection refused" in lines[0]
    assert records[0].levelno == logging.ERROR  # librdkafka's level 3, mapped


def test_numbers_do_not_make_a_new_kind(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="test.kafka2")
    log = KafkaClientLog(interval_s=30, logger=logging.getLogger("test.kafka2"))
    for instance in range(40, 50):
        log.log(3, "%s [%s] %s", "FAIL", f"sovereign-agent#producer-{instance}", "refused")
    log.flush()
    assert [r.getMessage() for r in caplog.records] == [
        "FAIL [sovereign-agent#producer-40] refused",
        "FAIL [sovereign-agent#producer-49] refused (repeated 9 more times before recovery)",
    ]
