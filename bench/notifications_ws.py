"""WebSocket fan-out for bench/notifications.py: one notify to ``clients`` sockets of one user,
timed from the call to each arrival; and its anchor, a bare uvicorn + Starlette server
(notifications_floor.py ws-floor) sending one text to as many."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import websockets
from benchlib import ROOT, free_port, percentile, serving


async def fan_out(
    base: str, token: str, body: dict[str, str], clients: int, runs: int
) -> list[float]:
    """p99 per run, from the notify call to each client's arrival."""
    url = base.replace("http", "ws") + "/api/notifications/ws/fan"
    protocols: Any = ["sovereign.bearer", token]
    sockets = [await websockets.connect(url, subprotocols=protocols) for _ in range(clients)]
    async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {token}"}) as c:

        async def notify() -> None:
            assert (await c.post("/api/notifications/notify", json=body)).status_code == 202

        return await timed_runs(sockets, notify, runs)


async def timed_runs(
    sockets: list[Any], send: Callable[[], Awaitable[None]], runs: int
) -> list[float]:
    """p99 per run, from ``send`` to each socket's arrival; the first run only proves every
    client is live and is not counted. The sockets are closed at the end."""
    results = []
    for run in range(runs + 1):
        await asyncio.sleep(0.5)
        t0 = time.perf_counter()
        waiters = [asyncio.create_task(arrival(ws, "notification")) for ws in sockets]
        await send()
        arrivals = await asyncio.wait_for(asyncio.gather(*waiters), 120)
        if run:
            results.append(percentile([(a - t0) * 1000 for a in arrivals], 99))
    for ws in sockets:
        await ws.close()
    return results


async def arrival(ws: Any, event: str) -> float:
    while True:
        if json.loads(await ws.recv())["event"] == event:
            return time.perf_counter()


def ws_floor(clients: int, runs: int, mode: str) -> list[float]:
    port = free_port()
    script = Path(__file__).with_name("notifications_floor.py")
    command = [sys.executable, str(script), "ws-floor", str(port), mode]
    with serving(command, f"http://127.0.0.1:{port}/", tries=100, cwd=ROOT):
        return asyncio.run(floor_fan_out(port, clients, runs))


async def floor_fan_out(port: int, clients: int, runs: int) -> list[float]:
    sockets = [await websockets.connect(f"ws://127.0.0.1:{port}/ws") for _ in range(clients)]
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as c:

        async def send() -> None:
            assert (await c.post("/send")).status_code == 202

        return await timed_runs(sockets, send, runs)
