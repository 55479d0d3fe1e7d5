"""The real-time stream WS /api/notifications/ws/{user_id}: a user's notifications as they
are written, what was missed first, then live (sent by the hub: appliance/notifications/
realtime.py); this connection's task only sends heartbeats then."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Annotated

from fastapi import APIRouter, Query, WebSocket
from starlette.concurrency import run_in_threadpool
from starlette.websockets import WebSocketDisconnect

from api.routes.notifications import notification_out
from appliance.notifications.models import Notification
from appliance.notifications.service import NotificationService
from appliance.security.roles import Role
from appliance.security.tokens import InvalidToken

router = APIRouter(prefix="/api/notifications", tags=["notifications"])
#: The subprotocol a browser offers with its token: ``new WebSocket(url, [WS_PROTOCOL, token])``.
WS_PROTOCOL = "sovereign.bearer"


def _ws_token(websocket: WebSocket) -> str | None:
    """The token from ``Sec-WebSocket-Protocol: sovereign.bearer, <token>`` (browsers cannot
    set Authorization on a WebSocket; a query parameter would land in access logs and
    browser history), else from ``Authorization: Bearer`` (other clients)."""
    offered = [p.strip() for p in websocket.headers.get("sec-websocket-protocol", "").split(",")]
    if WS_PROTOCOL in offered:
        rest = [p for p in offered if p and p != WS_PROTOCOL]
        return rest[0] if rest else None
    scheme, _, value = websocket.headers.get("authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def _event(n: Notification) -> dict[str, object]:
    return {"event": "notification", "notification": notification_out(n).model_dump(mode="json")}


def _event_text(n: Notification) -> str:
    """As ``send_json`` would encode it; the hub keeps it for every client of the user."""
    return json.dumps(_event(n), separators=(",", ":"), ensure_ascii=False)


@router.websocket("/ws/{user_id}")
async def stream(
    websocket: WebSocket,
    user_id: str,
    last_id: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
) -> None:
    """A user's notifications as they are written (viewer): messages
    ``{"event": "notification", "notification": {…as in GET /api/notifications…}}`` and
    ``{"event": "heartbeat", "last_id": N}``. Reconnect with ``last_id`` (the
    last id seen) to get what was missed first, in order. A heartbeat message every
    ws_heartbeat_s; a client that falls ws_queue_size behind is closed with 1013 (reconnect).
    Closed with 4401 without a valid token, 4403 below viewer."""
    runtime = getattr(websocket.app.state, "runtime", None)
    service: NotificationService | None = getattr(runtime, "notifications", None)
    security = getattr(runtime, "security", None)
    token = _ws_token(websocket)
    if service is None or security is None:
        await websocket.close(code=1013, reason="the agent's database is not open")
        return
    if token is None:
        await websocket.close(code=4401, reason="a token is needed")
        return
    try:
        info = await run_in_threadpool(security.tokens.verify, token)
    except InvalidToken:
        await websocket.close(code=4401, reason="invalid token")
        return
    if not info.role.allows(Role.VIEWER):
        await websocket.close(code=4403, reason="needs role viewer")
        return
    offered = websocket.headers.get("sec-websocket-protocol", "")
    await websocket.accept(subprotocol=WS_PROTOCOL if WS_PROTOCOL in offered else None)
    hub = service.hub
    subscriber = hub.subscribe(user_id)  # before the backlog: nothing falls between
    heartbeat = service.settings.ws_heartbeat_s
    seen = last_id
    try:
        while True:
            backlog = await run_in_threadpool(service.outbox.since_id, user_id, seen)
            for item in backlog:
                await websocket.send_json(_event(item))
                seen = item.id
            if len(backlog) < 500:
                break
        # What was offered while the backlog was read, then live: the hub sends directly.
        while not subscriber.queue.empty() and not subscriber.lagging.is_set():
            item = subscriber.queue.get_nowait()
            if item.id > seen:
                await websocket.send_text(hub.encoded(item, _event_text))
                seen = item.id
        if not subscriber.lagging.is_set():
            subscriber.go_live(websocket.send_text, _event_text, seen)
        while not subscriber.done.is_set():
            idle = time.monotonic() - subscriber.last_sent
            if idle >= heartbeat:
                await websocket.send_json({"event": "heartbeat", "last_id": subscriber.seen})
                subscriber.last_sent = time.monotonic()
                continue
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(heartbeat - idle):
                    await subscriber.done.wait()
        if subscriber.lagging.is_set():
            await websocket.close(code=1013, reason="too far behind: reconnect with last_id")
    except WebSocketDisconnect:
        pass
    finally:
        hub.unsubscribe(subscriber)
