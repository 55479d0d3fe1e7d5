"""Latency of /health and /health/detailed under a steady load against a real agent.

Starts the agent with uvicorn on 127.0.0.1 (free port, SQLite in a temp dir), then sends
requests at a fixed rate over one keep-alive connection per endpoint and prints p50/p99.
Target: /health p99 <= 5 ms. Usage: python bench/agent_http.py [--rate 200] [--seconds 10]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=float, default=200.0, help="requests/s per endpoint")
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    port = free_port()
    tmp = tempfile.mkdtemp(prefix="agent-bench-")
    env = {
        **os.environ,
        "APPLIANCE_CONFIG_FILE": str(Path(tmp) / "agent.toml"),
        "APPLIANCE_SQLITE_PATH": str(Path(tmp) / "agent.db"),
        "APPLIANCE_PORT": str(port),
        "APPLIANCE_SAMPLE_INTERVAL_S": "1",
        "APPLIANCE_LOG_LEVEL": "warning",
    }
    (Path(tmp) / "agent.toml").write_text("")
    proc = subprocess.Popen([sys.executable, "-m", "api.main"], cwd=ROOT, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=5) as client:
            deadline = time.monotonic() + 20
            while True:
                try:
                    client.get("/health")
                    break
                except httpx.TransportError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
            for path in ("/health", "/health/detailed"):
                for _ in range(50):  # warm-up
                    client.get(path)
                latencies: list[float] = []
                interval = 1 / args.rate
                next_at = time.perf_counter()
                end = next_at + args.seconds
                while next_at < end:
                    pause = next_at - time.perf_counter()
                    if pause > 0:
                        time.sleep(pause)
                    start = time.perf_counter()
                    client.get(path)
                    latencies.append((time.perf_counter() - start) * 1000)
                    next_at += interval
                print(
                    f"{path:18} n={len(latencies):5d} rate={args.rate:g}/s "
                    f"p50={pct(latencies, 50):.2f} ms p99={pct(latencies, 99):.2f} ms "
                    f"max={max(latencies):.2f} ms"
                )
    finally:
        proc.terminate()
        proc.wait(30)


if __name__ == "__main__":
    main()
