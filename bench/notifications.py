"""Notifications on a real agent process (SQLite, this machine): ``notify`` latency at a fixed
rate, delivery rate to a local webhook receiver, and WebSocket fan-out of one notification to
many clients of one user.

    .venv/bin/python bench/notifications.py [--rate 100] [--seconds 10] \
        [--burst 2000] [--clients 500]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import websockets

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchlib import ROOT, free_port, percentile, print_header

from appliance.database.connect import open_sqlite
from appliance.notifications.models import Channel
from appliance.notifications.outbox import Outbox
from appliance.security.roles import Role
from appliance.security.tokens import TokenService

RECEIVED: list[float] = []


class Hook(BaseHTTPRequestHandler):
    disable_nagle_algorithm = True
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", 0)))
        RECEIVED.append(time.perf_counter())
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--burst", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=500)
    args = parser.parse_args()
    print_header()
    work = Path(tempfile.mkdtemp(prefix="bench-notify-"))
    hook = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    hook.daemon_threads = True
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    store = open_sqlite(work / "agent.db")
    store.prepare()
    token = TokenService(store).create("bench", Role.OPERATOR, created_by="bench").secret
    url = f"http://127.0.0.1:{hook.server_address[1]}/hook"
    Outbox(store).put_channel(Channel("hook", "webhook", {"url": url}), create=True)
    store.close()
    (work / "agent.toml").write_text("")
    port = free_port()
    env = {
        **os.environ,
        "APPLIANCE_CONFIG_FILE": str(work / "agent.toml"),
        "APPLIANCE_SQLITE_PATH": str(work / "agent.db"),
        "APPLIANCE_HOST": "127.0.0.1",
        "APPLIANCE_PORT": str(port),
        "APPLIANCE_LOG_LEVEL": "warning",
    }
    agent = subprocess.Popen([sys.executable, "-m", "api.main"], env=env, cwd=ROOT)
    base = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {token}"}
    try:
        with httpx.Client(base_url=base, headers=headers, timeout=10.0) as client:
            for _ in range(300):
                try:
                    if client.get("/health").status_code in (200, 503):
                        break
                except httpx.HTTPError:
                    time.sleep(0.1)
            body = {"user_id": "bench", "channel": "hook", "subject": "s", "message": "m"}
            # 1. notify latency at a fixed rate.
            latencies = []
            start = time.perf_counter()
            n = int(args.rate * args.seconds)
            for i in range(n):
                due = start + i / args.rate
                time.sleep(max(0.0, due - time.perf_counter()))
                t0 = time.perf_counter()
                assert client.post("/api/notifications/notify", json=body).status_code == 202
                latencies.append((time.perf_counter() - t0) * 1000)
            print(
                f"notify at {args.rate:.0f} req/s x {n}: p50 {percentile(latencies, 50):.2f} ms,"
                f" p99 {percentile(latencies, 99):.2f} ms"
            )
            # 2. delivery rate: a burst written first, then drained by the worker.
            deadline = time.monotonic() + 60
            while len(RECEIVED) < n and time.monotonic() < deadline:
                time.sleep(0.05)
            RECEIVED.clear()
            for _ in range(args.burst):
                client.post("/api/notifications/notify", json=body)
            deadline = time.monotonic() + 300
            while len(RECEIVED) < args.burst and time.monotonic() < deadline:
                time.sleep(0.05)
            span = RECEIVED[-1] - RECEIVED[0]
            print(
                f"delivery to the webhook receiver: {len(RECEIVED)} in {span:.2f} s ="
                f" {len(RECEIVED) / span:.0f}/s"
            )
        # 3. WebSocket fan-out of one notification to many clients of one user.
        print(asyncio.run(fan_out(base, port, token, args.clients)))
    finally:
        agent.terminate()
        agent.wait(30)


async def fan_out(base: str, port: int, token: str, clients: int) -> str:
    url = f"ws://127.0.0.1:{port}/api/notifications/ws/fan"
    sockets = [
        await websockets.connect(url, subprotocols=["sovereign.bearer", token])  # type: ignore[list-item]
        for _ in range(clients)
    ]
    await asyncio.sleep(0.5)
    arrivals: list[float] = []

    async def wait_one(ws: Any) -> None:
        while True:
            event = json.loads(await ws.recv())
            if event["event"] == "notification":
                arrivals.append(time.perf_counter())
                return

    waiters = [asyncio.create_task(wait_one(ws)) for ws in sockets]
    body = {"user_id": "fan", "channel": "hook", "subject": "s", "message": "m"}
    async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {token}"}) as c:
        t0 = time.perf_counter()
        r = await c.post("/api/notifications/notify", json=body)
        assert r.status_code == 202
    await asyncio.wait_for(asyncio.gather(*waiters), 30)
    delays = [(a - t0) * 1000 for a in arrivals]
    for ws in sockets:
        await ws.close()
    return (
        f"WebSocket fan-out to {clients} clients (from the notify call): p50"
        f" {percentile(delays, 50):.1f} ms, p99 {percentile(delays, 99):.1f} ms"
    )


if __name__ == "__main__":
    main()
