"""WS /api/notifications/ws/{user_id}: authenticated by the Sec-WebSocket-Protocol token,
live pushes per user, resume from the last id seen, heartbeats, and a slow client dropped
without holding up the others."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import pytest
from starlette.websockets import WebSocketDisconnect

from appliance.notifications.models import Channel, NotifyRequest
from appliance.notifications.outbox import Outbox, Planned
from appliance.notifications.realtime import Hub
from tests.unit.api.conftest import Agent, start_agent
from tests.unit.conftest import AgentDatabase

URL = "/api/notifications/ws/user123"


@pytest.fixture
def agent() -> Iterator[Agent]:
    with ExitStack() as stack:
        a = start_agent(stack, notifications={"ws_heartbeat_s": 0.3})
        assert a.runtime.notifications is not None
        a.runtime.notifications.outbox.put_channel(
            Channel("hook", "webhook", {"url": "http://127.0.0.1:9/h"}), create=True
        )
        yield a


def notify(agent: Agent, user: str = "user123", subject: str = "s") -> int:
    body = {"user_id": user, "channel": "hook", "subject": subject, "message": "m"}
    r = agent.client.post("/api/notifications/notify", json=body)
    assert r.status_code == 202, r.text
    return int(r.json()["id"])


def protocols(agent: Agent, role: str = "viewer") -> list[str]:
    return ["sovereign.bearer", agent.tokens[role]]


def next_notification(ws: Any) -> dict[str, Any]:
    while True:
        event = ws.receive_json()
        if event["event"] == "notification":
            return dict(event["notification"])


@pytest.mark.parametrize(
    ("how", "code"),
    [("none", 4401), ("bad", 4401), ("scrape", 4403), ("query", 4401)],
)
def test_the_stream_needs_a_viewer_token_in_the_subprotocol(
    agent: Agent, how: str, code: int
) -> None:
    offered = {
        "none": [],
        "bad": ["sovereign.bearer", "sva_" + "x" * 43],
        "scrape": protocols(agent, "scrape"),
        "query": [],
    }[how]
    url = URL + (f"?token={agent.tokens['admin']}" if how == "query" else "")
    # No Authorization header either (the test client sends the admin token by default).
    headers = {"authorization": ""}
    with (
        pytest.raises(WebSocketDisconnect) as closed,
        agent.client.websocket_connect(url, subprotocols=offered, headers=headers) as ws,
    ):
        ws.receive_json()
    assert closed.value.code == code


def test_live_pushes_are_per_user_and_heartbeats_come_when_idle(agent: Agent) -> None:
    with agent.client.websocket_connect(URL, subprotocols=protocols(agent)) as ws:
        assert ws.accepted_subprotocol == "sovereign.bearer"
        assert ws.receive_json()["event"] == "heartbeat"
        notify(agent, user="someone-else")
        nid = notify(agent, subject="hello")
        event = next_notification(ws)
        assert (event["id"], event["subject"], event["user_id"]) == (nid, "hello", "user123")


def test_a_client_that_reconnects_with_its_last_id_gets_what_it_missed_in_order(
    agent: Agent,
) -> None:
    with agent.client.websocket_connect(URL, subprotocols=protocols(agent)) as ws:
        first = notify(agent)
        assert next_notification(ws)["id"] == first
    missed = [notify(agent, subject=f"m{i}") for i in range(5)]  # while disconnected
    with agent.client.websocket_connect(
        f"{URL}?last_id={first}", subprotocols=protocols(agent)
    ) as ws:
        got = [next_notification(ws)["id"] for _ in missed]
        later = notify(agent)
        assert next_notification(ws)["id"] == later
    assert got == missed


def test_a_slow_subscriber_is_dropped_and_the_others_still_get_everything(
    agent_db: AgentDatabase,
) -> None:
    outbox = Outbox(agent_db.store())
    outbox.put_channel(Channel("hook", "webhook", {"url": "http://127.0.0.1:9/h"}), create=True)

    async def scenario() -> None:
        hub = Hub(queue_size=3)
        slow, fast = hub.subscribe("u"), hub.subscribe("u")
        for i in range(10):
            ids = outbox.notify(
                NotifyRequest("u", f"s{i}", "m", channel="hook"),
                [Planned("hook", None)],
                created_by="t",
            ).ids
            hub.offer("u", outbox.since_id("u", ids[0] - 1))
            while not fast.queue.empty():  # the fast one keeps up
                fast.queue.get_nowait()
        assert slow.lagging.is_set() and not fast.lagging.is_set()
        assert hub.dropped == 1

    asyncio.run(scenario())


def test_a_notification_is_encoded_once_for_all_its_clients_and_idle_ones_time_out(
    agent_db: AgentDatabase,
) -> None:
    outbox = Outbox(agent_db.store())
    outbox.put_channel(Channel("hook", "webhook", {"url": "http://127.0.0.1:9/h"}), create=True)
    encodings: list[int] = []

    def encode(n: Any) -> str:
        encodings.append(n.id)
        return f"event {n.id}"

    async def scenario() -> None:
        hub = Hub(queue_size=8)
        clients = [hub.subscribe("u") for _ in range(50)]
        outbox.on_notified = hub.signal  # as the service wires it: from notify's thread
        request = NotifyRequest("u", "s", "m", channel="hook")
        ids = await asyncio.to_thread(
            lambda: outbox.notify(request, [Planned("hook", None)], created_by="t").ids
        )
        texts = [hub.encoded(await c.next(5.0), encode) for c in clients]
        assert texts == [f"event {ids[0]}"] * 50 and encodings == ids
        with pytest.raises(TimeoutError):  # nothing more: the heartbeat's turn
            await clients[0].next(0.05)

    asyncio.run(scenario())


def test_live_subscribers_get_each_notification_once_in_order_and_a_gone_one_is_dropped(
    agent_db: AgentDatabase,
) -> None:
    outbox = Outbox(agent_db.store())
    outbox.put_channel(Channel("hook", "webhook", {"url": "http://127.0.0.1:9/h"}), create=True)
    encodings: list[int] = []

    def encode(n: Any) -> str:
        encodings.append(n.id)
        return f"event {n.id}"

    async def scenario() -> None:
        hub = Hub(queue_size=8)
        received: list[list[str]] = [[] for _ in range(50)]
        subscribers = [hub.subscribe("u") for _ in received]

        def sender(texts: list[str]) -> Any:
            async def send(text: str) -> None:
                if texts is received[7]:
                    raise ConnectionResetError("client gone")
                texts.append(text)

            return send

        for subscriber, texts in zip(subscribers, received, strict=True):
            subscriber.go_live(sender(texts), encode, 0)
        outbox.on_notified = hub.signal
        ids: list[int] = []

        def notify(i: int) -> list[int]:
            request = NotifyRequest("u", f"s{i}", "m", channel="hook")
            return outbox.notify(request, [Planned("hook", None)], created_by="t").ids

        for i in range(3):  # three notifies from threads, as the API makes them
            ids += await asyncio.to_thread(notify, i)
        for _ in range(100):
            if all(len(t) == 3 for i, t in enumerate(received) if i != 7):
                break
            await asyncio.sleep(0.01)
        expected = [f"event {i}" for i in ids]
        assert all(t == expected for i, t in enumerate(received) if i != 7)
        assert received[7] == [] and subscribers[7].done.is_set()
        assert subscribers[7] not in hub._subscribers["u"]
        assert encodings == ids  # encoded once each, for all fifty
        assert all(s.queue.empty() for s in subscribers)  # live: no queue involved

    asyncio.run(scenario())
