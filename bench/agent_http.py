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
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from agent_http_floor import agent_meter, floor_runner, floor_server
from benchlib import ROOT, HostCpu, free_port, print_header
from http_load import ACCESS, Result, client_for, concurrent, fixed_rate

FIXED_RATE_P99_MS = 5.0  # /health p99 at the fixed rate
CONCURRENT_CLIENTS = 8  # the concurrency the throughput target is stated for
CONCURRENT_RPS = 1500.0
CONCURRENT_P99_MS = 20.0
IDLE_SECONDS = 5.0  # --cpu: how long the servers' background work is measured first
MAX_SECONDS = 300.0  # per measurement: every request loop ends by then whatever is asked


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
