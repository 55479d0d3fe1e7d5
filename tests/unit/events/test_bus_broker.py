"""EventBus against a real tansu broker: delivery, outage, restart, dedupe, health."""

from __future__ import annotations

import itertools
import threading
import uuid
from collections import defaultdict
from collections.abc import Callable

from confluent_kafka import Producer

from appliance.events import BusEvent, EventBus, EventBusSettings, encode
from appliance.events.outbox import Outbox
from tests.unit.events.conftest import Broker, Collector, wait_until

MakeSettings = Callable[..., EventBusSettings]


def assert_once_in_order(events: list[BusEvent], published: list[BusEvent]) -> None:
    assert sorted(str(e.id) for e in events) == sorted(str(e.id) for e in published)
    by_key: dict[str | None, list[uuid.UUID]] = defaultdict(list)
    for event in events:
        by_key[event.key].append(event.id)
    for key, ids in by_key.items():
        assert ids == [e.id for e in published if e.key == key], f"key {key} out of order"


def test_publish_reaches_a_subscriber_as_a_typed_event(
    broker: Broker, make_settings: MakeSettings
) -> None:
    got = Collector()
    with EventBus(make_settings(broker.bootstrap)) as bus:
        bus.subscribe("storage.pool", got)
        sent = bus.publish("storage.pool", {"pool": "tank"}, key="tank", schema_version=2)
        [event] = got.wait_for(1)
        assert bus.wait_until_delivered(5)
    assert (event.id, event.topic, event.key) == (sent.id, "storage.pool", "tank")
    assert (event.schema_version, event.payload) == (2, {"pool": "tank"})
    assert event.created_at == sent.created_at
    assert event.partition is not None and event.offset == 0


def test_broker_outage_loses_nothing(broker: Broker, make_settings: MakeSettings) -> None:
    """Acceptance: broker down, 100 publishes, broker back: all 100 once, in order per key."""
    settings = make_settings(broker.bootstrap)
    got = Collector()
    with EventBus(settings) as bus:
        bus.publish("warmup", {})  # the forwarder has a live producer when the broker dies
        assert bus.wait_until_delivered(10)
        broker.stop()
        keys = itertools.cycle(["tank", "backup", "scratch", "media"])
        published = [bus.publish("pool.state", {"n": n}, key=next(keys)) for n in range(100)]
        down = bus.health()
        assert not down.broker_reachable and down.broker_error
        assert down.backlog == 100  # nothing is marked delivered without the broker's report
        assert down.oldest_pending_age_s is not None

        broker.start()  # a new, empty broker on the same address
        bus.subscribe("pool.state", got)
        events = got.wait_for(100, timeout_s=30)
        assert bus.wait_until_delivered(10)
        # Let any duplicate on the wire reach the consumer before counting.
        wait_until(lambda: bus.health().backlog == 0, 5, "empty backlog")
        up = bus.health()
    assert_once_in_order(events, published)
    assert len(got.events) == 100
    assert up.broker_reachable and up.broker_latency_ms is not None


def test_new_bus_delivers_what_a_closed_one_left_pending(
    broker: Broker, make_settings: MakeSettings
) -> None:
    settings = make_settings(broker.bootstrap)
    broker.stop()
    with EventBus(settings) as first:
        published = [first.publish("jobs", {"n": n}, key=f"k{n % 3}") for n in range(30)]
    with Outbox(settings.outbox_path) as outbox:
        assert outbox.backlog().pending == 30

    broker.start()
    got = Collector()
    with EventBus(settings) as second:
        second.subscribe("jobs", got)
        events = got.wait_for(30)
        assert second.wait_until_delivered(10)
    assert_once_in_order(events, published)


def test_publish_is_durable_before_any_broker_contact(make_settings: MakeSettings) -> None:
    settings = make_settings("127.0.0.1:1")
    with EventBus(settings, forward=False) as bus:
        event = bus.publish("t", {"x": 1}, key="k")
        # A second reader of the file (another process, after a crash) already sees the row.
        with Outbox(settings.outbox_path) as reader:
            [row] = reader.pending(0, 10)
    assert (row.event_id, row.key) == (str(event.id), "k")


def test_redelivered_event_reaches_the_group_once_even_across_restarts(
    broker: Broker, make_settings: MakeSettings
) -> None:
    settings = make_settings(broker.bootstrap)
    got = Collector()
    with EventBus(settings) as bus:
        sub = bus.subscribe("audit", got)
        event = bus.publish("audit", {"who": "root"})
        got.wait_for(1)
        sub.stop()
    # The same bytes again on the wire: what a producer retry or an uncommitted offset yields.
    raw = Producer({"bootstrap.servers": broker.bootstrap})
    raw.produce("audit", encode(event))
    raw.produce("audit", encode(event))
    assert raw.flush(5) == 0

    later = Collector()
    with EventBus(settings, forward=False) as restarted:  # a new agent process, same group
        restarted.subscribe("audit", later)
        marker = restarted.publish("audit", {"marker": True})
        raw.produce("audit", encode(marker))
        assert raw.flush(5) == 0
        [seen] = later.wait_for(1)
    assert seen.id == marker.id
    assert [e.id for e in got.events] == [event.id]


def test_failing_handler_is_retried_then_committed(
    broker: Broker, make_settings: MakeSettings
) -> None:
    settings = make_settings(broker.bootstrap)
    calls: list[uuid.UUID] = []
    done = threading.Event()

    def flaky(event: BusEvent) -> None:
        calls.append(event.id)
        if len(calls) == 1:
            raise RuntimeError("transient")
        done.set()

    with EventBus(settings) as bus:
        bus.subscribe("flaky", flaky)
        event = bus.publish("flaky", {})
        assert done.wait(20)
    assert calls == [event.id, event.id]

    # Offset committed: a new member of the group, with a fresh dedupe store, reads nothing old.
    fresh = make_settings(broker.bootstrap, group_id=settings.group_id)
    fresh = fresh.model_copy(update={"outbox_path": settings.outbox_path.with_name("fresh.db")})
    later = Collector()
    with EventBus(fresh) as bus:
        sub = bus.subscribe("flaky", later)
        assert sub.wait_assigned(10)
        marker = bus.publish("flaky", {"marker": True})
        [seen] = later.wait_for(1)
    assert seen.id == marker.id


def test_health_when_up(broker: Broker, make_settings: MakeSettings) -> None:
    with EventBus(make_settings(broker.bootstrap)) as bus:
        bus.publish("h", {})
        assert bus.wait_until_delivered(10)
        health = bus.health()
    assert health.ok
    assert (health.backlog, health.dead, health.oldest_pending_age_s) == (0, 0, None)
    assert health.broker_latency_ms is not None and health.broker_latency_ms < 2000
    assert health.as_dict()["broker_reachable"] is True
