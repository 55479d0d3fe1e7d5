"""EventBus against a real tansu broker: batched consumption, dead letters, trace context."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace

import pytest
from confluent_kafka import Producer
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import NoOpTracerProvider, SpanKind, StatusCode

from appliance.events import (
    BusEvent,
    EventBus,
    EventBusSettings,
    InvalidTopicError,
    decode,
    encode,
)
from appliance.events.outbox import Outbox
from tests.unit.events.conftest import Broker, Collector, wait_until

MakeSettings = Callable[..., EventBusSettings]


@dataclass(frozen=True)
class Traced:
    """An SDK tracer provider whose finished spans the test reads from ``exporter``."""

    provider: TracerProvider
    exporter: InMemorySpanExporter


@pytest.fixture
def traced() -> Traced:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return Traced(provider, exporter)


def test_a_burst_is_consumed_once_in_batches(broker: Broker, make_settings: MakeSettings) -> None:
    settings = make_settings(broker.bootstrap, consume_batch=200)
    got = Collector()
    with EventBus(settings) as bus:
        published: list[BusEvent] = []
        lock = threading.Lock()

        def publisher(t: int) -> None:
            for i in range(250):
                event = bus.publish("burst", {"t": t, "i": i}, key=f"k{t}")
                with lock:
                    published.append(event)

        threads = [threading.Thread(target=publisher, args=(t,)) for t in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert bus.wait_until_delivered(30)
        sub = bus.subscribe("burst", got)  # the whole backlog is on the broker: it batches
        events = got.wait_for(2000, timeout_s=60)
        wait_until(lambda: sub.handled == 2000, 10, "handled count")
        batches = sub.batches
    assert sorted(str(e.id) for e in events) == sorted(str(e.id) for e in published)
    for t in range(8):  # in order per key
        assert [e.payload["i"] for e in events if e.key == f"k{t}"] == list(range(250))
    assert batches < 2000 / 10  # not one commit per event
    assert sub.duplicates == 0


def test_publish_many_arrives_in_order_with_one_trace_each(
    broker: Broker, make_settings: MakeSettings, traced: Traced
) -> None:
    got = Collector()
    with EventBus(make_settings(broker.bootstrap), tracer_provider=traced.provider) as bus:
        bus.subscribe("many", got)
        sent = bus.publish_many([("many", {"i": i}, "k") for i in range(50)])
        events = got.wait_for(50)
        with pytest.raises(InvalidTopicError):  # validated before anything is stored
            bus.publish_many([("many", {"i": 50}, "k"), ("bad topic", {}, None)])
        assert bus.wait_until_delivered(10) and bus.publish_many([]) == []
    assert [e.id for e in events] == [e.id for e in sent]
    spans = traced.exporter.get_finished_spans()
    publishes = [s for s in spans if s.name == "publish many"]
    processes = [s for s in spans if s.name == "process many"]
    assert len(publishes) == len(processes) == 50
    by_span = {s.context.span_id: s for s in publishes}
    for process in processes:
        assert process.parent is not None and process.parent.span_id in by_span


def test_a_failing_handler_parks_its_event_and_the_partition_moves_on(
    broker: Broker, make_settings: MakeSettings
) -> None:
    settings = make_settings(broker.bootstrap, handler_max_attempts=3, topic_partitions=1)
    handled: list[int] = []
    calls: list[int] = []

    def handler(event: BusEvent) -> None:
        calls.append(event.payload["n"])
        if event.payload.get("poison"):
            raise RuntimeError("cannot handle this one")
        handled.append(event.payload["n"])

    with EventBus(settings) as bus:
        sub = bus.subscribe("orders", handler)
        bus.publish("orders", {"n": 1})
        poison = bus.publish("orders", {"n": 2, "poison": True})
        bus.publish("orders", {"n": 3})
        wait_until(lambda: handled == [1, 3], 20, "the events around the poison one")
        wait_until(lambda: sub.dead_lettered == 1, 5, "the dead letter")
        health = bus.health()
        [letter] = bus.dead_letters()
        assert calls.count(2) == 3  # three attempts, then parked
        assert (letter.event_id, letter.topic, letter.attempts) == (str(poison.id), "orders", 3)
        assert "cannot handle this one" in letter.error
        assert decode(letter.body).payload == {"n": 2, "poison": True}
        assert health.dead_letters == 1 and not health.ok

        # Replayed through the subscription's own handler: fails again, stays parked.
        assert bus.replay_dead_letter(letter.id) is False
        [again] = bus.dead_letters()
        assert again.attempts == 4
        # A fixed handler takes it.
        fixed: list[BusEvent] = []
        assert bus.replay_dead_letter(letter.id, fixed.append) is True
        assert [e.id for e in fixed] == [poison.id]
        assert bus.dead_letters() == [] and bus.health().dead_letters == 0
        sub.stop()

    # Offsets were committed past the poison event: the group does not read it again.
    later = Collector()
    with EventBus(settings) as bus:
        bus.subscribe("orders", later)
        marker = bus.publish("orders", {"n": 4})
        [seen] = later.wait_for(1)
    assert seen.id == marker.id


def test_one_trace_from_publish_to_handler(
    broker: Broker, make_settings: MakeSettings, traced: Traced
) -> None:
    tracer = traced.provider.get_tracer("test")
    inside: list[trace.SpanContext] = []

    def handler(event: BusEvent) -> None:
        inside.append(trace.get_current_span().get_span_context())

    with EventBus(make_settings(broker.bootstrap), tracer_provider=traced.provider) as bus:
        bus.subscribe("traced", handler)
        with tracer.start_as_current_span("POST /api/things") as request:
            bus.publish("traced", {"thing": 1})
        wait_until(lambda: len(inside) == 1, 20, "the handler")
        wait_until(lambda: len(traced.exporter.get_finished_spans()) == 3, 5, "three spans")
    spans = {s.name: s for s in traced.exporter.get_finished_spans()}
    publish, process = spans["publish traced"], spans["process traced"]
    trace_id = request.get_span_context().trace_id
    assert {s.context.trace_id for s in spans.values()} == {trace_id}
    assert (publish.kind, process.kind) == (SpanKind.PRODUCER, SpanKind.CONSUMER)
    assert (
        publish.parent is not None and publish.parent.span_id == request.get_span_context().span_id
    )
    assert process.parent is not None and process.parent.span_id == publish.context.span_id
    assert inside[0].span_id == process.context.span_id  # the handler runs inside it
    assert process.attributes is not None
    assert process.attributes["messaging.destination.name"] == "traced"


def test_without_an_sdk_no_span_and_no_header(make_settings: MakeSettings) -> None:
    settings = make_settings("127.0.0.1:1")
    with EventBus(settings, forward=False, tracer_provider=NoOpTracerProvider()) as bus:
        bus.publish("plain", {})
    with Outbox(settings.outbox_path) as outbox:
        [row] = outbox.pending(0, 10)
    assert row.headers == {}


def test_a_garbled_traceparent_starts_a_new_trace(
    broker: Broker, make_settings: MakeSettings, traced: Traced
) -> None:
    got = Collector()
    with EventBus(make_settings(broker.bootstrap), tracer_provider=traced.provider) as bus:
        bus.subscribe("garbled", got)
        event = bus.publish("garbled", {})
        got.wait_for(1)
        raw = Producer({"bootstrap.servers": broker.bootstrap})
        raw.produce("garbled", encode(replace(event, id=uuid.uuid4())),
                    headers=[("traceparent", b"00-garbage")])  # fmt: skip
        assert raw.flush(5) == 0
        [_, second] = got.wait_for(2)
    assert second.payload == {}
    processed = [s for s in traced.exporter.get_finished_spans() if s.name == "process garbled"]
    assert len(processed) == 2 and processed[1].parent is None  # a root span of its own


def test_failed_handler_spans_record_the_errors(
    broker: Broker, make_settings: MakeSettings, traced: Traced
) -> None:

    def handler(_event: BusEvent) -> None:
        raise ValueError("nope")

    settings = make_settings(broker.bootstrap, handler_max_attempts=2)
    with EventBus(settings, tracer_provider=traced.provider) as bus:
        sub = bus.subscribe("failing", handler)
        bus.publish("failing", {})
        wait_until(lambda: sub.dead_lettered == 1, 20, "the dead letter")
    [process] = [s for s in traced.exporter.get_finished_spans() if s.name == "process failing"]
    assert process.status.status_code is StatusCode.ERROR
    assert [e.name for e in process.events] == ["exception", "exception"]
