"""WebSocket fan-out for bench/notifications.py: one notify to ``clients`` sockets of one user,
timed from the call to each arrival; and its anchor, a bare uvicorn + Starlette server
(notifications_floor.py ws-floor) sending one text to as many."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import websockets
from benchlib import ROOT, free_port, percentile


async def fan_out(
    base: str, token: str, body: dict[str, str], clients: int, runs: int
) -> list[float]:
    """p99 per run, from the notify call to each client's arrival."""
    url = base.replace("http", "ws") + "/api/notifications/ws/fan"
    protocols: Any = ["sovereign.bearer", token]
    sockets = [await websockets.connect(url, subprotocols=protocols) for _ in range(clients)]
    results = []
    async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {token}"}) as c:
        for run in range(runs + 1):  # the first only proves every client is live: not counted
            await asyncio.sleep(0.5)
            t0 = time.perf_counter()
            waiters = [asyncio.create_task(arrival(ws, "notification")) for ws in sockets]
            assert (await c.post("/api/notifications/notify", json=body)).status_code == 202
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
    process = subprocess.Popen(command, cwd=ROOT)
    try:
        for _ in range(100):
            try:
                httpx.get(f"http://127.0.0.1:{port}/", timeout=1.0)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        return asyncio.run(floor_fan_out(port, clients, runs))
    finally:
        process.terminate()
        process.wait(30)


async def floor_fan_out(port: int, clients: int, runs: int) -> list[float]:
    sockets = [await websockets.connect(f"ws://127.0.0.1:{port}/ws") for _ in range(clients)]
    results = []
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as c:
        for run in range(runs + 1):  # as for the agent: the first is not counted
            await asyncio.sleep(0.5)
            t0 = time.perf_counter()
            waiters = [asyncio.create_task(arrival(ws, "notification")) for ws in sockets]
            assert (await c.post("/send")).status_code == 202
            arrivals = await asyncio.wait_for(asyncio.gather(*waiters), 120)
            if run:
                results.append(percentile([(a - t0) * 1000 for a in arrivals], 99))
    for ws in sockets:
        await ws.close()
    return results
