"""CPU share of the agent sampling at 1 Hz, and of Glances' web server for comparison.

Starts each server, lets it settle, then measures its process CPU time (user+system, with
children) over a window: share = cpu seconds / wall seconds. Glances is measured when
`glances` is importable by this interpreter or given with --glances PATH.
Usage: python bench/agent_cpu.py [--seconds 30] [--glances /tmp/glances-venv/bin/glances]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
from benchlib import print_header

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(proc: psutil.Process) -> float:
    total = 0.0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return total


def measure(name: str, argv: list[str], env: dict[str, str], seconds: float) -> None:
    proc = subprocess.Popen(
        argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        ps = psutil.Process(proc.pid)
        time.sleep(5)  # start-up cost is not the steady state
        c0, t0 = cpu_seconds(ps), time.monotonic()
        time.sleep(seconds)
        c1, t1 = cpu_seconds(ps), time.monotonic()
        rss = ps.memory_info().rss / 2**20
        print(
            f"{name:26} cpu={100 * (c1 - c0) / (t1 - t0):5.2f} % of one core "
            f"over {t1 - t0:.0f} s, rss={rss:.0f} MiB"
        )
    finally:
        proc.terminate()
        proc.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--glances", default=shutil.which("glances"))
    args = parser.parse_args()
    print_header()
    tmp = Path(tempfile.mkdtemp(prefix="agent-cpu-"))
    (tmp / "agent.toml").write_text("")
    env = {
        **os.environ,
        "APPLIANCE_CONFIG_FILE": str(tmp / "agent.toml"),
        "APPLIANCE_SQLITE_PATH": str(tmp / "agent.db"),
        "APPLIANCE_PORT": str(free_port()),
        "APPLIANCE_SAMPLE_INTERVAL_S": "1",
        "APPLIANCE_LOG_LEVEL": "warning",
    }
    measure("agent (1 Hz sampling)", [sys.executable, "-m", "api.main"], env, args.seconds)
    if args.glances:
        port = str(free_port())
        measure(
            "glances -w (1 s refresh)",
            [args.glances, "-w", "--disable-webui", "-B", "127.0.0.1", "-p", port, "-t", "1"],
            dict(os.environ),
            args.seconds,
        )
    else:
        print("glances not installed: skipped (pip install glances, or pass --glances PATH)")


if __name__ == "__main__":
    main()
