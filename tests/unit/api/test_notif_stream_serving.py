"""The notification stream as the agent serves it (its uvicorn settings, a real socket): no
per-message deflate even when the client offers it (each notification would be compressed
once per client on fan-out), and pushes arrive as sent."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import pytest
import uvicorn
import websockets
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from api.main import server_config
from appliance.notifications.models import Channel
from tests.support import free_port, wait_until
from tests.unit.agent.factories import make_settings
from tests.unit.api.conftest import Agent, start_agent


@pytest.fixture
def served() -> Iterator[tuple[Agent, int]]:
    with ExitStack() as stack:
        agent = start_agent(stack, notifications={"ws_heartbeat_s": 0.3})
        assert agent.runtime.notifications is not None
        agent.runtime.notifications.outbox.put_channel(
            Channel("hook", "webhook", {"url": "http://127.0.0.1:9/h"}), create=True
        )
        port = free_port()
        config = server_config(make_settings(host="127.0.0.1", port=port), agent.app)
        config.lifespan = "off"  # the test client ran the app's lifespan already
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        wait_until(lambda: server.started, 10, "uvicorn to start")
        yield agent, port
        server.should_exit = True
        thread.join(10)


def test_the_stream_is_served_without_per_message_deflate(served: tuple[Agent, int]) -> None:
    agent, port = served
    config = server_config(make_settings(), agent.app)
    config.load()
    assert config.ws_protocol_class is WebSocketsSansIOProtocol

    async def session() -> tuple[Any, dict[str, Any]]:
        url = f"ws://127.0.0.1:{port}/api/notifications/ws/u1"
        protocols: Any = ["sovereign.bearer", agent.tokens["viewer"]]
        # The client offers permessage-deflate (websockets does by default).
        async with websockets.connect(url, subprotocols=protocols) as ws:
            extensions = list(ws.protocol.extensions)
            body = {"user_id": "u1", "channel": "hook", "subject": "s", "message": "m"}
            answer = await asyncio.to_thread(
                agent.client.post, "/api/notifications/notify", json=body
            )
            assert answer.status_code == 202
            while True:
                event = json.loads(await asyncio.wait_for(ws.recv(), 10))
                if event["event"] == "notification":
                    return extensions, event["notification"]

    extensions, notification = asyncio.run(session())
    assert extensions == []
    assert (notification["user_id"], notification["subject"]) == ("u1", "s")
