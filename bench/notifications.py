"""Notifications on a real agent process, on the appliance's database (PostgreSQL 15, a fresh
local cluster with durable commits; ``--database sqlite`` for the development store), each
figure beside an anchor from the same run and as the median of ``--runs``:

1. ``notify`` latency at a fixed rate; anchors: one INSERT+COMMIT straight to the database at
   the same rate, an authenticated read of the same agent (GET /api/notifications/channels),
   and the same notify to a bare FastAPI endpoint that inserts one row with SQLAlchemy and
   commits (the stack's floor on this machine: no token, audit, tracing nor delivery).
   Both timed by a light client in a process of its own (notifications_client.py: until
   2026-11-29 08:00 UTC httpx in this process, beside the webhook receiver's threads), whose
   own CPU per request is printed too.
2. Delivery rate: a backlog of ``--burst`` notifications (written in one transaction) drained
   by the worker to a local webhook receiver; anchor: that receiver driven by plain keep-alive
   HTTP clients, as many as the worker's concurrency.
   Beside the latencies and the rate, the agent's CPU time per notify and per delivery (all
   its threads, from /proc, less its idle rate): a figure a busy machine disturbs far less
   than a p99.
3. WebSocket fan-out of one notification to ``--clients`` clients of one user, from the notify
   call to each arrival; anchors: a bare uvicorn + Starlette server sending one text to as
   many, without per-message deflate (as the agent serves) and with it (uvicorn's default).

    .venv/bin/python bench/notifications.py [--database postgresql|sqlite] [--runs 3] \
        [--rate 100] [--seconds 10] [--burst 2000] [--clients 500] [--only notify,delivery,ws]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import insert

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchlib import ROOT, free_port, percentile, print_header, serving
from notifications_floor import WebhookReceiver, commit_latency_ms, postgres, receiver_capacity
from notifications_ws import fan_out, ws_floor

from appliance.database.connect import open_postgres, open_sqlite
from appliance.database.repository import Store
from appliance.database.schema import notifications
from appliance.notifications.models import Channel
from appliance.notifications.outbox import Outbox
from appliance.notifications.settings import NotificationSettings
from appliance.security.roles import Role
from appliance.security.tokens import TokenService

BODY = {"user_id": "bench", "channel": "hook", "subject": "s", "message": "m"}


#: The agent's process id, for its CPU time.
AGENT: dict[str, int] = {}


def cpu_s(pid: int) -> float:
    """User + system CPU seconds so far of a process (all its threads) and of its children
    (the agent's notification delivery process), the waited-for ones included."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = sum(int(f) for f in fields[11:15])  # utime, stime, cutime, cstime
    for child in children(pid):
        with contextlib.suppress(OSError):  # gone meanwhile: counted in cutime by now
            ticks += sum(int(f) for f in read_stat(child)[11:13])
    return ticks / os.sysconf("SC_CLK_TCK")


def read_stat(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            found += [int(c) for c in (task / "children").read_text().split()]
    return found


def idle_cpu_per_s(seconds: float = 3.0) -> float:
    """What the agent spends with no request (its sampler, health checks): taken off the
    per-notification figures."""
    before = cpu_s(AGENT["pid"])
    time.sleep(seconds)
    return (cpu_s(AGENT["pid"]) - before) / seconds


def median_of(runs: list[float]) -> str:
    return f"{statistics.median(runs):.1f} (runs: {', '.join(f'{r:.1f}' for r in runs)})"


@contextmanager
def agent(env: dict[str, str], port: int) -> Iterator[str]:
    base = f"http://127.0.0.1:{port}"
    argv = [sys.executable, "-m", "api.main"]
    with serving(argv, f"{base}/health", env=env, cwd=ROOT) as pid:
        AGENT["pid"] = pid
        yield base


def write_backlog(store: Store, count: int) -> None:
    """``count`` due notifications in one transaction, as notify writes them."""
    now = time.time()
    row = {
        "created_by": "bench",
        "user_id": "bench",
        "type": "info",
        "channel": "hook",
        "severity": "info",
        "subject": "s",
        "message": "m",
        "data": "{}",
        "status": "pending",
        "created_at": now,
        "next_attempt_at": now,
        "attempt_count": 0,
    }
    store.run(lambda c: c.execute(insert(notifications), [row] * count))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--burst", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=500)
    parser.add_argument(
        "--only", default="notify,delivery,ws", help="Which figures: notify, delivery, ws."
    )
    args = parser.parse_args()
    print_header()
    work = Path(tempfile.mkdtemp(prefix="bench-notify-"))
    receiver = WebhookReceiver()
    port = free_port()
    env = {
        **os.environ,
        "APPLIANCE_CONFIG_FILE": str(work / "agent.toml"),
        "APPLIANCE_SQLITE_PATH": str(work / "agent.db"),
        "APPLIANCE_HOST": "127.0.0.1",
        "APPLIANCE_PORT": str(port),
        "APPLIANCE_LOG_LEVEL": "warning",
    }
    (work / "agent.toml").write_text("")
    with ExitStack() as stack:
        url = None
        if args.database == "postgresql":
            url = stack.enter_context(postgres(free_port()))
            env["APPLIANCE_DATABASE_URL"] = url
            store = open_postgres(url)
        else:
            store = open_sqlite(work / "agent.db")
        stack.callback(store.close)
        store.prepare()
        token = TokenService(store).create("bench", Role.OPERATOR, created_by="bench").secret
        Outbox(store).put_channel(Channel("hook", "webhook", {"url": receiver.url}), create=True)
        base = stack.enter_context(agent(env, port))
        if "notify" in args.only:
            measure_notify(base, token, receiver, url, args)
        if "delivery" in args.only:
            measure_delivery(store, receiver, args)
        if "ws" in args.only:
            fan = asyncio.run(
                fan_out(base, token, {**BODY, "user_id": "fan"}, args.clients, args.runs)
            )
            print(f"WebSocket fan-out to {args.clients} clients, p99 ms: {median_of(fan)}")
    if "ws" in args.only:
        for mode, what in (("plain", "without deflate, as the agent"), ("deflate", "deflate")):
            floor = median_of(ws_floor(args.clients, args.runs, mode))
            print(f"  anchor: a bare uvicorn+Starlette fan-out ({what}), p99 ms: {floor}")


def timed(base: str, token: str, args: argparse.Namespace, request: str, count: int) -> Timed:
    """``count`` requests at ``args.rate`` from the bench's client (notifications_client.py),
    in a process of its own; ``request`` is "METHOD PATH BODY STATUS"."""
    method, path, body, status = request.split(" ", 3)
    script = Path(__file__).with_name("notifications_client.py")
    argv = [sys.executable, str(script), base, token, method, path, body, str(args.rate)]
    out = subprocess.run([*argv, str(count), status], capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"the bench's client failed: {out.stderr.strip()}")
    result = json.loads(out.stdout)
    return Timed(result["latencies_ms"], result["cpu_ms_per_request"])


@dataclass
class Timed:
    latencies_ms: list[float]
    client_cpu_ms: float


NOTIFY = f"POST /api/notifications/notify {json.dumps(BODY, separators=(',', ':'))} 202"
READ = "GET /api/notifications/channels  200"


def measure_notify(
    base: str, token: str, receiver: WebhookReceiver, url: str | None, args: argparse.Namespace
) -> None:
    n = int(args.rate * args.seconds)
    p99: dict[str, list[float]] = {"notify": [], "read": [], "commit": [], "bare": []}
    cpu: list[float] = []
    read_cpu: list[float] = []
    client_cpu: list[float] = []
    for _ in range(args.runs):
        idle = idle_cpu_per_s()
        receiver.received.clear()
        before, start = cpu_s(AGENT["pid"]), time.monotonic()
        notified = timed(base, token, args, NOTIFY, n)
        p99["notify"].append(percentile(notified.latencies_ms, 99))
        receiver.wait_for(n, 60)  # delivered: the next figures are not competing with it
        busy = cpu_s(AGENT["pid"]) - before - idle * (time.monotonic() - start)
        cpu.append(busy / n * 1000)
        before, start = cpu_s(AGENT["pid"]), time.monotonic()
        read = timed(base, token, args, READ, n // 2)
        p99["read"].append(percentile(read.latencies_ms, 99))
        busy = cpu_s(AGENT["pid"]) - before - idle * (time.monotonic() - start)
        read_cpu.append(busy / (n // 2) * 1000)
        client_cpu.append(notified.client_cpu_ms)
        if url is not None:
            p99["commit"].append(percentile(commit_latency_ms(url, args.rate, n // 2), 99))
            p99["bare"].append(percentile(bare_notify_ms(url, token, args, n), 99))
    print(f"notify at {args.rate:.0f} req/s x {n}, p99 ms: {median_of(p99['notify'])}")
    print(f"  agent CPU per notify (its delivery included), ms: {median_of(cpu)}")
    print(f"  the bench's client, CPU per notify, ms: {median_of(client_cpu)}")
    print(f"  anchor: authenticated GET of the channels, p99 ms: {median_of(p99['read'])}")
    print(f"  anchor: agent CPU per GET of the channels, ms: {median_of(read_cpu)}")
    if p99["commit"]:
        print(f"  anchor: one INSERT+COMMIT to PostgreSQL, p99 ms: {median_of(p99['commit'])}")
    if p99["bare"]:
        bare = median_of(p99["bare"])
        print(f"  anchor: a bare notify on the same stack (FastAPI, SQLAlchemy), p99 ms: {bare}")


def bare_notify_ms(url: str, token: str, args: argparse.Namespace, count: int) -> list[float]:
    """notify's floor on this machine and stack: the same request, by the same client, to a
    bare FastAPI endpoint that inserts one row and commits (notifications_floor.py), while the
    agent idles beside it."""
    port = free_port()
    script = Path(__file__).with_name("notifications_floor.py")
    base = f"http://127.0.0.1:{port}"
    with serving([sys.executable, str(script), "http-floor", str(port), url], f"{base}/docs"):
        return timed(base, token, args, NOTIFY, count).latencies_ms


def measure_delivery(store: Store, receiver: WebhookReceiver, args: argparse.Namespace) -> None:
    rates, cpu = [], []
    for _ in range(args.runs):
        idle = idle_cpu_per_s()
        receiver.received.clear()
        before, start = cpu_s(AGENT["pid"]), time.monotonic()
        write_backlog(store, args.burst)
        receiver.wait_for(args.burst, 300)
        rates.append(receiver.rate())
        busy = cpu_s(AGENT["pid"]) - before - idle * (time.monotonic() - start)
        cpu.append(busy / args.burst * 1000)
    print(f"delivery of {args.burst} to the webhook receiver, per s: {median_of(rates)}")
    print(f"  agent CPU per delivery, ms: {median_of(cpu)}")
    default = NotificationSettings().concurrency
    concurrency = int(os.environ.get("APPLIANCE_NOTIFICATIONS__CONCURRENCY", default))
    floor = [receiver_capacity(receiver, args.burst, concurrency) for _ in range(args.runs)]
    print(f"  anchor: the receiver from {concurrency} plain clients, per s: {median_of(floor)}")


if __name__ == "__main__":
    main()
