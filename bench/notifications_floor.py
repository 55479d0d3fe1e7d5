"""What bench/notifications.py runs beside the agent: a throwaway PostgreSQL 15 cluster (the
appliance's database, durable commits: fsync and synchronous_commit on), the webhook receiver,
and the anchors each figure is read against — the receiver driven by a plain HTTP client, a
bare notify on the agent's stack (uvicorn + FastAPI + SQLAlchemy: one INSERT and its COMMIT,
nothing else) and a bare WebSocket fan-out on the same server stack with nothing behind it.

    .venv/bin/python bench/notifications_floor.py ws-floor PORT [deflate|plain]   # bare fan-out
    .venv/bin/python bench/notifications_floor.py http-floor PORT DATABASE_URL    # bare notify
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from http.client import HTTPConnection
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from pydantic import BaseModel

PG_BIN = Path("/usr/lib/postgresql/15/bin")
AGENT_ROLE = "sovereign_agent"


@contextmanager
def postgres(port: int) -> Iterator[str]:
    """A fresh cluster on 127.0.0.1:``port``; yields the agent's URL (role and database
    ``sovereign_agent``, trusted over TCP here: the bench has no Vault for its password)."""
    tmp = Path(tempfile.mkdtemp(prefix="bench-pg-"))
    data, sock = tmp / "data", tmp / "sock"
    sock.mkdir()
    prefix: list[str] = []
    if os.geteuid() == 0:  # initdb refuses root
        user = pwd.getpwnam("postgres")
        os.chown(tmp, user.pw_uid, user.pw_gid)
        os.chown(sock, user.pw_uid, user.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]

    def run(*command: str) -> None:
        subprocess.run([*prefix, *command], check=True, capture_output=True)

    run(str(PG_BIN / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust")
    opts = f"-p {port} -k {sock} -c listen_addresses=127.0.0.1"
    ctl = [str(PG_BIN / "pg_ctl"), "-D", str(data)]
    run(*ctl, "-o", opts, "-w", "-l", str(tmp / "log"), "start")
    try:
        psql = [str(PG_BIN / "psql"), "-h", str(sock), "-p", str(port), "-U", "postgres"]
        for sql in (
            f"CREATE ROLE {AGENT_ROLE} LOGIN",
            f"CREATE DATABASE {AGENT_ROLE} OWNER {AGENT_ROLE}",
        ):
            run(*psql, "-c", sql)
        yield f"postgresql://{AGENT_ROLE}@127.0.0.1:{port}/{AGENT_ROLE}"
    finally:
        subprocess.run([*prefix, *ctl, "-m", "fast", "stop"], check=False, capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)


def commit_latency_ms(url: str, rate: float, count: int) -> list[float]:
    """The database's floor for notify: one INSERT and its COMMIT over TCP, at ``rate``."""
    import psycopg

    latencies = []
    with psycopg.connect(url.replace("+psycopg", "")) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS bench_floor (id bigserial, body text)")
        conn.commit()
        start = time.perf_counter()
        for i in range(count):
            time.sleep(max(0.0, start + i / rate - time.perf_counter()))
            t0 = time.perf_counter()
            conn.execute("INSERT INTO bench_floor (body) VALUES (%s) RETURNING id", ("m",))
            conn.commit()
            latencies.append((time.perf_counter() - t0) * 1000)
    return latencies


class WebhookReceiver:
    """The webhook channel's receiver: answers 200 to every POST and notes when."""

    def __init__(self) -> None:
        self.received: list[float] = []
        receiver = self

        class Hook(BaseHTTPRequestHandler):
            disable_nagle_algorithm = True
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length", 0)))
                receiver.received.append(time.perf_counter())
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            # 16 clients connecting at once overflowed the default backlog of 5 (resets).
            request_queue_size = 128

        self.server = Server(("127.0.0.1", 0), Hook)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, count: int, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.02)

    def rate(self) -> float:
        span = self.received[-1] - self.received[0]
        return (len(self.received) - 1) / span if span > 0 else 0.0


def receiver_capacity(receiver: WebhookReceiver, count: int, clients: int) -> float:
    """The receiver's rate driven by ``clients`` plain keep-alive HTTP clients (no Apprise,
    no database), with the JSON body Apprise's webhook sends."""
    body = json.dumps({"version": "1.0", "title": "s", "message": "m", "type": "info"}).encode()
    port = int(receiver.url.split(":")[2].split("/")[0])
    receiver.received.clear()

    def client(n: int) -> None:
        conn = HTTPConnection("127.0.0.1", port, timeout=10)
        for _ in range(n):
            conn.request("POST", "/hook", body, {"content-type": "application/json"})
            conn.getresponse().read()
        conn.close()

    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(client, [count // clients] * clients))
    return receiver.rate()


def ws_floor_app() -> Any:
    """One Starlette app: WS /ws holds clients; POST /send sends one JSON text to all."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route, WebSocketRoute
    from starlette.websockets import WebSocket, WebSocketDisconnect

    clients: set[WebSocket] = set()

    async def hold(websocket: WebSocket) -> None:
        await websocket.accept()
        clients.add(websocket)
        try:
            while True:
                await websocket.receive_text()
        except WebSocketDisconnect:
            clients.discard(websocket)

    async def send(request: Request) -> Response:
        text = json.dumps({"event": "notification", "notification": {"id": 1, "message": "m"}})
        for websocket in list(clients):
            await websocket.send_text(text)
        return Response(status_code=202)

    return Starlette(routes=[WebSocketRoute("/ws", hold), Route("/send", send, methods=["POST"])])


class FloorNotify(BaseModel):
    """notify's body as the bench sends it (at module level: FastAPI resolves the annotation
    by name)."""

    user_id: str
    channel: str
    subject: str
    message: str


def http_floor_app(url: str) -> Any:
    """POST /api/notifications/notify as the stack does it at the least: FastAPI validates the
    body, a threadpool runs the endpoint, SQLAlchemy inserts one row and commits (durably), and
    the id goes back as JSON. No token, audit record, tracing, metrics nor delivery."""
    from fastapi import FastAPI
    from sqlalchemy import create_engine, text

    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as c:
        c.execute(text("CREATE TABLE IF NOT EXISTS bench_http_floor (id bigserial, body text)"))
    insert = text("INSERT INTO bench_http_floor (body) VALUES (:body) RETURNING id")

    app = FastAPI()

    @app.post("/api/notifications/notify", status_code=202)
    def notify(body: FloorNotify) -> dict[str, int]:
        with engine.begin() as c:
            return {"id": int(c.execute(insert, {"body": body.message}).scalar_one())}

    return app


if __name__ == "__main__" and sys.argv[1:2] == ["http-floor"]:
    import uvicorn

    sys.setswitchinterval(0.0005)  # as the agent (appliance/config.py switch_interval_ms)
    uvicorn.run(
        http_floor_app(sys.argv[3]),
        host="127.0.0.1",
        port=int(sys.argv[2]),
        log_level="warning",
        access_log=False,
    )

if __name__ == "__main__" and sys.argv[1:2] == ["ws-floor"]:
    import uvicorn

    # "deflate": uvicorn's default (per-message deflate); "plain": none, as the agent serves.
    deflate = sys.argv[3:4] != ["plain"]
    uvicorn.run(
        ws_floor_app(),
        host="127.0.0.1",
        port=int(sys.argv[2]),
        log_level="warning",
        ws_per_message_deflate=deflate,
    )
