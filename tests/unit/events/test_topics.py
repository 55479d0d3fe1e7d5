"""Topic creation on first use, against a real broker (Tansu)."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from appliance.events.settings import EventBusSettings
from appliance.events.topics import Topics
from tests.unit.events.conftest import Broker


class CountingAdmin(AdminClient):
    def __init__(self, conf: dict[str, Any]) -> None:
        super().__init__(conf)
        self.calls = 0

    def create_topics(  # type: ignore[override]  # AdminClient narrows its C base
        self, new_topics: list[NewTopic], **kwargs: Any
    ) -> dict[str, Future[Any]]:
        self.calls += 1
        return super().create_topics(new_topics, **kwargs)


def test_made_once_with_the_bus_partitions_and_again_after_forget(
    broker: Broker, make_settings: Callable[..., EventBusSettings]
) -> None:
    settings = make_settings(broker.bootstrap, topic_partitions=2)
    admin = CountingAdmin({"bootstrap.servers": broker.bootstrap})
    topics = Topics(settings)
    assert topics.ensure(admin, "made")
    described = admin.list_topics("made", timeout=10).topics["made"]
    assert described.error is None and len(described.partitions) == 2
    assert topics.ensure(admin, "made")
    assert admin.calls == 1  # known: no second request
    topics.forget()
    assert topics.ensure(admin, "made")  # there already: fine
    assert admin.calls == 2


def test_a_broker_that_does_not_answer_is_a_refusal_not_an_error(
    make_settings: Callable[..., EventBusSettings],
) -> None:
    settings = make_settings("127.0.0.1:1", metadata_timeout_s=0.5)
    admin = AdminClient({"bootstrap.servers": "127.0.0.1:1"})
    assert not Topics(settings).ensure(admin, "unreachable")


def test_not_ours_to_make_when_create_topics_is_off(
    make_settings: Callable[..., EventBusSettings],
) -> None:
    settings = make_settings("127.0.0.1:1", create_topics=False)
    admin = AdminClient({"bootstrap.servers": "127.0.0.1:1"})
    assert Topics(settings).ensure(admin, "anything")
