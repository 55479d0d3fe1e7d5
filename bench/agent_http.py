"""Latency and throughput of the agent's /health endpoints, with a plain-Python floor beside it.

    .venv/bin/python bench/agent_http.py                      # starts its own agent (empty config)
    .venv/bin/python bench/agent_http.py --url http://10.99.0.11:8013 --floor
    .venv/bin/python bench/agent_http.py --url http://10.99.0.11:8013 --clients 8 --floor
    .venv/bin/python bench/agent_http.py --url https://10.99.0.11 --cacert CA --token-file F \
        --paths /health /api/monitoring/metrics --floor        # through the edge, with a token
    .venv/bin/python bench/agent_http.py --clients 8 --cpu    # + the servers' CPU per request

Target: without --url the agent is started with uvicorn on 127.0.0.1 (free port, SQLite in a
temp dir, empty config); with --url a running agent is measured as it is deployed.

Two load patterns, each for --seconds per endpoint:
- fixed rate (default): --rate requests/s over one keep-alive connection per endpoint, paced
  against the schedule, not the previous answer; prints p50/p99/max. Target: /health p99 <= 5 ms.
- --clients N: N concurrent keep-alive clients, each sending its next request when the previous
  answer arrived; prints req/s and p50/p99/max. Target (8 clients): /health >= 1,500 req/s with
  p99 <= 20 ms.

--floor also measures, in the same run and with the same client, a minimal stdlib
`http.server` handler (HTTP/1.1 keep-alive, `disable_nagle_algorithm=True`, a small JSON
body) started on the agent's own host on a spare port: locally for a local agent, over
`sovereign lab ssh HOST` for a lab host's address, or over --floor-via 'COMMAND PREFIX' (e.g.
'ssh root@host') otherwise. It stops when the bench closes its stdin, and after --seconds
budget in any case. The client shares this machine's cores with whatever serves (a lab host
is a container here): compare the agent with the floor, not with other machines.

--cpu also reads, on the same host and the same way, the CPU time the agent process, the
edge's nginx workers and the floor spent per request (their idle rates, measured first, taken
off); every line also says how much of a core the bench client used. On a busy machine the
latencies mostly measure the run queue; CPU per request moves far less with other load.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import os
import shlex
import ssl as ssl_module
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from benchlib import ROOT, HostCpu, free_port, percentile, print_header, run_on

FIXED_RATE_P99_MS = 5.0  # /health p99 at the fixed rate
CONCURRENT_CLIENTS = 8  # the concurrency the throughput target is stated for
CONCURRENT_RPS = 1500.0
CONCURRENT_P99_MS = 20.0
IDLE_SECONDS = 5.0  # --cpu: how long the servers' background work is measured first
MAX_SECONDS = 300.0  # per measurement: every request loop ends by then whatever is asked

# Runs on the agent's host with its system python3 (no project code there): argv = bind
# address, lifetime in seconds. Prints its port and pid, serves until stdin closes or the
# lifetime ends.
FLOOR_SERVER = """
import http.server, os, sys, threading
BODY = b'{"status":"healthy","lifecycle":"ready","ready":true,"checked_at":0.0}'
class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    def do_GET(self):
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)
    def log_message(self, *args):
        pass
class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
server = Server((sys.argv[1], 0), Handler)
threading.Timer(float(sys.argv[2]), os._exit, (0,)).start()
threading.Thread(target=server.serve_forever, daemon=True).start()
print(server.server_address[1], os.getpid(), flush=True)
sys.stdin.read()
os._exit(0)
"""


@dataclass
class Result:
    label: str
    path: str
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)  # every complete answer
    statuses: Counter[int] = field(default_factory=Counter)
    errors: int = 0  # no complete answer (connection or protocol failure)
    # CPU this bench process spent meanwhile (its TLS and parsing): near a whole core, the
    # client, not the server, sets the pace of what is measured.
    client_cpu_s: float = 0.0
    sent: int = 0  # requests sent, warm-up included (what the server's CPU time was spent on)
    # --cpu: the server's CPU seconds over the measurement, by process group (agent, edge…)
    server_cpu_s: dict[str, float] = field(default_factory=dict)

    @property
    def rps(self) -> float:
        return len(self.latencies_ms) / self.seconds if self.seconds else 0.0

    @property
    def client_cpu(self) -> float:
        """The bench's own CPU time as a share of one core over the measurement."""
        return self.client_cpu_s / self.seconds if self.seconds else 0.0

    def p(self, q: float) -> float:
        return percentile(self.latencies_ms, q) if self.latencies_ms else float("nan")

    def line(self) -> str:
        return (
            f"{self.label:<6} {self.path:<18} n={len(self.latencies_ms):6d} "
            f"{self.rps:7.0f} req/s  p50 {self.p(50):6.2f} ms  p99 {self.p(99):6.2f} ms  "
            f"max {max(self.latencies_ms, default=float('nan')):7.2f} ms  errors {self.errors}  "
            f"client cpu {self.client_cpu:4.0%}"
            + "".join(
                f"  {name} cpu {seconds / self.sent * 1000:.3f} ms/req"
                for name, seconds in self.server_cpu_s.items()
                if self.sent
            )
            + "".join(f"  status {code}: {n}" for code, n in sorted(self.statuses.items()))
        )


# --- the agent to measure -----------------------------------------------------------------


@contextlib.contextmanager
def own_agent() -> Iterator[tuple[str, int]]:
    """The agent started here with an empty config; yields its base URL and process id."""
    port = free_port()
    tmp = Path(tempfile.mkdtemp(prefix="agent-bench-"))
    (tmp / "agent.toml").write_text("")
    env = {
        **os.environ,
        "APPLIANCE_CONFIG_FILE": str(tmp / "agent.toml"),
        "APPLIANCE_SQLITE_PATH": str(tmp / "agent.db"),
        "APPLIANCE_HOST": "127.0.0.1",
        "APPLIANCE_PORT": str(port),
        "APPLIANCE_SAMPLE_INTERVAL_S": "1",
        "APPLIANCE_LOG_LEVEL": "warning",
    }
    proc = subprocess.Popen([sys.executable, "-m", "api.main"], cwd=ROOT, env=env)
    try:
        yield f"http://127.0.0.1:{port}", proc.pid
    finally:
        proc.terminate()
        proc.wait(30)


@dataclass
class Access:
    """How to reach an HTTPS edge: the CA its certificate chains to, and an API token."""

    cacert: Path | None = None
    token: str | None = None

    def ssl(self, base: str) -> ssl_module.SSLContext | None:
        if urlsplit(base).scheme != "https":
            return None
        return ssl_module.create_default_context(cafile=str(self.cacert) if self.cacert else None)

    def headers(self, base: str) -> dict[str, str]:
        # The floor is plain HTTP on the host and takes no token.
        return {"Authorization": f"Bearer {self.token}"} if self.token and self.ssl(base) else {}


ACCESS = Access()


def client_for(base: str) -> httpx.Client:
    context = ACCESS.ssl(base)
    return httpx.Client(
        base_url=base, timeout=5, verify=context if context else True,
        headers=ACCESS.headers(base),
    )  # fmt: skip


def wait_ready(base: str, timeout: float = 90.0) -> None:  # a busy machine starts slowly
    deadline = time.monotonic() + timeout
    with client_for(base) as client:
        while True:
            try:
                client.get("/health")
                return
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise SystemExit(f"no agent answers at {base}/health") from None
                time.sleep(0.05)


# --- the floor ----------------------------------------------------------------------------


def is_local(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return address == "localhost"


def floor_runner(address: str, via: str | None) -> list[str]:
    """The command prefix that runs a command on the host at `address`."""
    if via:
        return shlex.split(via)
    if is_local(address):
        return []
    from sovereign.lab.inventory import current_lab_name, lab_hosts

    for name, data in lab_hosts():
        if data.get("ssh_hostname") == address:
            sovereign = str(Path(sys.executable).with_name("sovereign"))
            return [sovereign, "lab", "ssh", "--lab", current_lab_name(), name]
    raise SystemExit(
        f"{address} is not a host of lab {current_lab_name()}: "
        "pass --floor-via 'ssh root@HOST' to start the floor there"
    )


FLOOR_RULE = "bench-floor"  # the comment of the temporary firewall rule
# On a deployed host: the agent's pid, then the edge's nginx worker pids (maybe none).
# (Anchored: the shell running this has the pattern in its own command line.)
AGENT_PIDS = (
    "systemctl show -p MainPID --value sovereign-agent; pgrep -d ' ' -f '^nginx: worker' || true"
)


@contextlib.contextmanager
def floor_server(address: str, via: str | None, lifetime: float) -> Iterator[tuple[str, int]]:
    """The stdlib floor on the host at `address`; yields its base URL and process id."""
    runner = floor_runner(address, via)
    command = ["python3", "-c", FLOOR_SERVER, address, f"{lifetime:.0f}"]
    # ssh joins its arguments into one remote shell command line: hand it one, quoted. On a
    # host with the appliance firewall, the floor's port is let in for the run, then closed.
    remote = (
        f"{shlex.join(command)} | {{ read port pid; "
        f"nft insert rule inet sovereign input tcp dport $port accept comment {FLOOR_RULE} "
        f"2>/dev/null; echo $port $pid; cat; }}; "
        f"nft -a list chain inet sovereign input 2>/dev/null | "
        f"awk '/{FLOOR_RULE}/ {{print $NF}}' | "
        f"xargs -r -n1 nft delete rule inet sovereign input handle"
    )
    argv = [*runner, remote] if runner else [sys.executable, *command[1:]]
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        port, _, pid = proc.stdout.readline().strip().partition(" ")
        if not (port.isdigit() and pid.isdigit()):
            raise SystemExit(f"the floor server did not start: {shlex.join(argv)[:200]}")
        yield f"http://{address}:{port}", int(pid)
    finally:
        if proc.stdin:
            proc.stdin.close()  # the server's stdin.read() returns: it exits
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def agent_meter(runner: list[str], own_pid: int | None) -> HostCpu:
    """The agent's process (and the edge's nginx workers, when there are) on its host."""
    if own_pid is not None:
        return HostCpu(runner, {"agent": [own_pid]})
    found = run_on(runner, ["sh", "-c", AGENT_PIDS]).splitlines()
    if not found or not found[0].strip().isdigit() or found[0].strip() == "0":
        raise SystemExit("--cpu: no sovereign-agent.service runs on the agent's host")
    groups = {"agent": [int(found[0])]}
    if len(found) > 1 and found[1].strip():
        groups["edge"] = [int(pid) for pid in found[1].split()]
    return HostCpu(runner, groups)


# --- the load patterns --------------------------------------------------------------------


def fixed_rate(label: str, base: str, path: str, rate: float, seconds: float) -> Result:
    """`rate` requests/s over one keep-alive connection, paced against the schedule."""
    result = Result(label, path)
    with client_for(base) as client:
        for _ in range(50):  # warm-up
            client.get(path)
        result.sent = 50
        interval = 1 / rate
        cpu = time.process_time()
        begin = next_at = time.perf_counter()
        end = begin + seconds
        while next_at < end and time.perf_counter() < end + 10:  # bounded if answers stall
            pause = next_at - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            start = time.perf_counter()
            result.sent += 1
            try:
                status = client.get(path).status_code
            except httpx.HTTPError:
                result.errors += 1
            else:
                result.latencies_ms.append((time.perf_counter() - start) * 1000)
                result.statuses[status] += 1
            next_at += interval
        result.seconds = time.perf_counter() - begin
        result.client_cpu_s = time.process_time() - cpu
    return result


class KeepAliveClients:
    """N keep-alive HTTP/1.1 connections, each sending its next GET when the last answer came.

    All connections first send WARMUP requests, then measure together from one start time.
    """

    WARMUP = 20

    def __init__(self, base: str, path: str, clients: int, seconds: float) -> None:
        url = urlsplit(base)
        self.ssl = ACCESS.ssl(base)
        self.host = url.hostname or "127.0.0.1"
        self.port = url.port or (443 if self.ssl else 80)
        self.path, self.clients, self.seconds = path, clients, seconds
        auth = "".join(f"{k}: {v}\r\n" for k, v in ACCESS.headers(base).items())
        self.request = (
            f"GET {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nAccept: */*\r\n{auth}\r\n"
        ).encode()
        self.end = 0.0
        self.sent = 0

    async def get(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> int:
        """One request and its whole answer; its status code."""
        self.sent += 1
        writer.write(self.request)
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        length = None
        for header in head[1:]:
            name, _, value = header.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        if length is None:  # uvicorn and http.server both send it for these answers
            raise SystemExit(f"{self.path}: an answer without content-length: {head[0]}")
        await reader.readexactly(length)
        return int(head[0].split(" ", 2)[1])

    async def client(self, warm: asyncio.Barrier, go: asyncio.Event, result: Result) -> None:
        reader, writer = await asyncio.open_connection(  # TCP_NODELAY set
            self.host, self.port, ssl=self.ssl, server_hostname=self.host if self.ssl else None
        )
        try:
            for _ in range(self.WARMUP):
                await self.get(reader, writer)
            await warm.wait()
            await go.wait()  # set once self.end is
            while (start := time.perf_counter()) < self.end:
                status = await self.get(reader, writer)
                result.latencies_ms.append((time.perf_counter() - start) * 1000)
                result.statuses[status] += 1
        finally:
            writer.close()

    async def run(self, label: str) -> Result:
        result = Result(label, self.path)
        warm, go = asyncio.Barrier(self.clients + 1), asyncio.Event()
        tasks = [asyncio.create_task(self.client(warm, go, result)) for _ in range(self.clients)]
        try:
            async with asyncio.timeout(self.seconds + 60):
                warmed = asyncio.create_task(warm.wait())
                await asyncio.wait([warmed, *tasks], return_when=asyncio.FIRST_COMPLETED)
                for task in tasks:  # a client that ended before the start failed: say why
                    if task.done():
                        task.result()
                cpu = time.process_time()
                begin = time.perf_counter()
                self.end = begin + self.seconds
                go.set()
                await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
        result.seconds = time.perf_counter() - begin  # ends with the last answer
        result.client_cpu_s = time.process_time() - cpu
        result.sent = self.sent
        return result


def concurrent(label: str, base: str, path: str, clients: int, seconds: float) -> Result:
    """`clients` keep-alive connections, each sending its next request on the last answer."""
    return asyncio.run(KeepAliveClients(base, path, clients, seconds).run(label))


# --- the run ------------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def measure(
    args: argparse.Namespace, agent: str, floor: str | None, meters: dict[str, HostCpu]
) -> None:
    """Run every measurement; `meters` (by label) read the servers' CPU around each one."""
    seconds = min(args.seconds, MAX_SECONDS)
    if args.clients:
        pattern = f"{args.clients} concurrent keep-alive clients, {seconds:g} s per measurement"
    else:
        pattern = f"{args.rate:g} req/s on one keep-alive connection, {seconds:g} s per measurement"
    print(f"agent  {agent}" + (" (started here, empty config)" if not args.url else ""))
    if floor:
        print(f"floor  {floor} (stdlib http.server, TCP_NODELAY, on the agent's host)")
    print(f"load   {pattern}")
    for meter in meters.values():
        meter.calibrate(IDLE_SECONDS)
        rates = ", ".join(f"{name} {rate:.1%}" for name, rate in meter.idle.items())
        print(f"idle   {rates} of a core (taken off the cpu ms/req below)")

    def run(label: str, base: str, path: str) -> Result:
        meter = meters.get(label)
        start, before = time.perf_counter(), meter.read() if meter else {}
        if args.clients:
            result = concurrent(label, base, path, args.clients, seconds)
        else:
            result = fixed_rate(label, base, path, args.rate, seconds)
        if meter:
            result.server_cpu_s = meter.spent(before, meter.read(), time.perf_counter() - start)
        return result

    results: dict[tuple[str, str], Result] = {}
    for path in args.paths:
        for _ in range(args.rounds):  # rounds alternate agent and floor
            targets = [("agent", agent)] + (
                [("floor", floor)] if floor and path == "/health" else []
            )
            for label, base in targets:
                r = run(label, base, path)
                print(r.line(), flush=True)
                if (label, path) in results:
                    results[(label, path)].latencies_ms += r.latencies_ms
                    results[(label, path)].errors += r.errors
                    results[(label, path)].statuses += r.statuses
                    results[(label, path)].seconds += r.seconds
                    results[(label, path)].client_cpu_s += r.client_cpu_s
                    results[(label, path)].sent += r.sent
                    for name, cpu in r.server_cpu_s.items():
                        results[(label, path)].server_cpu_s[name] += cpu
                else:
                    results[(label, path)] = r
    if args.rounds > 1:
        print(f"over {args.rounds} rounds:")
        for r in results.values():
            print(r.line())
    health = results.get(("agent", "/health"))
    floor_r = results.get(("floor", "/health"))
    if health and floor_r and floor_r.rps and floor_r.p(99):
        print(
            f"agent/floor /health: req/s x{health.rps / floor_r.rps:.2f}, "
            f"p50 x{health.p(50) / floor_r.p(50):.2f}, p99 x{health.p(99) / floor_r.p(99):.2f}"
        )
    if health:
        if args.clients:
            note = "" if args.clients == CONCURRENT_CLIENTS else f" [this run: {args.clients}]"
            ok = health.rps >= CONCURRENT_RPS and health.p(99) <= CONCURRENT_P99_MS
            print(
                f"target /health >= {CONCURRENT_RPS:g} req/s with p99 <= {CONCURRENT_P99_MS:g} ms "
                f"under {CONCURRENT_CLIENTS} clients{note}: {verdict(ok)} "
                f"({health.rps:.0f} req/s, p99 {health.p(99):.2f} ms)"
            )
        else:
            ok = health.p(99) <= FIXED_RATE_P99_MS
            print(
                f"target /health p99 <= {FIXED_RATE_P99_MS:g} ms at a fixed rate: {verdict(ok)} "
                f"(p99 {health.p(99):.2f} ms at {args.rate:g} req/s)"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a running agent, e.g. http://10.99.0.11:8013")
    parser.add_argument("--rate", type=float, default=200.0, help="requests/s per endpoint")
    parser.add_argument("--clients", type=int, default=0, help="N concurrent keep-alive clients")
    parser.add_argument("--seconds", type=float, default=10.0, help="per measurement")
    parser.add_argument("--rounds", type=int, default=1, help="alternate agent/floor N times")
    parser.add_argument("--paths", nargs="+", default=["/health", "/health/detailed"])
    parser.add_argument("--floor", action="store_true", help="also measure a stdlib floor")
    parser.add_argument("--floor-via", help="command prefix running a command on the agent's host")
    parser.add_argument("--cacert", type=Path, help="CA of an https:// edge (the appliance CA)")
    parser.add_argument("--token-file", type=Path, help="file holding an API token (viewer)")
    parser.add_argument(
        "--cpu",
        action="store_true",
        help="also read the servers' CPU per request on their host (agent, edge's nginx "
        "workers, floor), reached as for --floor",
    )
    args = parser.parse_args()
    ACCESS.cacert = args.cacert
    ACCESS.token = args.token_file.read_text().strip() if args.token_file else None
    if args.rate <= 0 or args.clients < 0 or args.seconds <= 0 or args.rounds < 1:
        parser.error("--rate, --seconds and --rounds must be positive, --clients >= 0")
    print_header()
    with contextlib.ExitStack() as stack:
        own_pid = None
        if args.url:
            agent = args.url.rstrip("/")
        else:
            agent, own_pid = stack.enter_context(own_agent())
        wait_ready(agent)
        address = urlsplit(agent).hostname or "127.0.0.1"
        meters: dict[str, HostCpu] = {}
        if args.cpu:
            meters["agent"] = agent_meter(floor_runner(address, args.floor_via), own_pid)
        floor = None
        if args.floor:
            # Long enough for every measurement, short enough to go away if the bench dies.
            budget = len(args.paths) * args.rounds * 2 * (min(args.seconds, MAX_SECONDS) + 30)
            floor, floor_pid = stack.enter_context(
                floor_server(address, args.floor_via, budget + 60)
            )
            wait_ready(floor)
            if args.cpu:
                meters["floor"] = HostCpu(
                    floor_runner(address, args.floor_via), {"floor": [floor_pid]}
                )
        measure(args, agent, floor, meters)


if __name__ == "__main__":
    main()
