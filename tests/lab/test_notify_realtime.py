"""Issue 12's WebSocket done-when on the lab, through the edge (nginx passes the upgrade on to
the agent): a client that disconnects for 10 s and reconnects with the last id it saw receives
every notification sent meanwhile, in order, and then the live ones. The client is the
`websockets` library; the token goes in Sec-WebSocket-Protocol, as a browser would send it."""

from __future__ import annotations

import json
import ssl
import time
from typing import Any
from urllib.parse import urlsplit

from websockets.sync.client import ClientConnection, connect
from websockets.typing import Subprotocol

from tests.lab.conftest import Edge

AWAY_S = 10.0
MISSED = 20


def stream(edge: Edge, token: str, user: str, last_id: int | None = None) -> ClientConnection:
    query = "" if last_id is None else f"?last_id={last_id}"
    return connect(
        f"wss://{urlsplit(edge.url).netloc}/api/notifications/ws/{user}{query}",
        ssl=ssl.create_default_context(cafile=str(edge.ca_cert)),
        subprotocols=[Subprotocol("sovereign.bearer"), Subprotocol(token)],
        open_timeout=15,
    )


def next_notification(ws: ClientConnection, timeout_s: float = 15.0) -> dict[str, Any]:
    """The next notification event (heartbeats skipped)."""
    deadline = time.monotonic() + timeout_s
    while True:
        event = json.loads(ws.recv(timeout=max(0.1, deadline - time.monotonic())))
        if event["event"] == "notification":
            return dict(event["notification"])


def test_a_client_away_for_10_s_gets_what_it_missed_in_order_then_live(
    edge: Edge, operator_token: str
) -> None:
    user = f"ws-{int(time.time())}"
    with edge.client(operator_token) as client:

        def notify(subject: str) -> int:
            body = {"user_id": user, "channel": "email", "to": f"{user}@example.com",
                    "subject": subject, "message": "m"}  # fmt: skip
            answer = client.post("/api/notifications/notify", json=body)
            assert answer.status_code == 202, answer.text
            return int(answer.json()["id"])

        with stream(edge, operator_token, user) as ws:
            assert ws.subprotocol == "sovereign.bearer"
            first = notify("before")
            seen = next_notification(ws)
            assert (seen["id"], seen["subject"]) == (first, "before")
        # Away for 10 s; notifications keep coming meanwhile.
        away = time.monotonic()
        missed = []
        for i in range(MISSED):
            missed.append(notify(f"missed {i}"))
            time.sleep(AWAY_S / MISSED)
        assert time.monotonic() - away >= AWAY_S
        with stream(edge, operator_token, user, last_id=seen["id"]) as ws:
            got = [next_notification(ws) for _ in missed]
            assert [n["id"] for n in got] == missed  # every one, in order
            assert [n["subject"] for n in got] == [f"missed {i}" for i in range(MISSED)]
            live = notify("live")
            assert next_notification(ws)["id"] == live


def test_the_stream_refuses_a_client_without_a_token(edge: Edge) -> None:
    """Through the edge too, no token is no stream (the agent closes with 4401)."""
    from websockets.exceptions import ConnectionClosed, InvalidStatus

    try:
        with connect(
            f"wss://{urlsplit(edge.url).netloc}/api/notifications/ws/anyone",
            ssl=ssl.create_default_context(cafile=str(edge.ca_cert)),
            open_timeout=15,
        ) as ws:
            ws.recv(timeout=10)
    except ConnectionClosed as closed:
        assert closed.rcvd is not None and closed.rcvd.code == 4401, closed
    except InvalidStatus as refused:  # refused before the upgrade
        assert refused.response.status_code in (401, 403), refused
    else:
        raise AssertionError("a stream without a token was served")
