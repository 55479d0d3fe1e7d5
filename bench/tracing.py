"""What tracing costs an instrumented request: two agents side by side, tracing on and off.

    .venv/bin/python bench/tracing.py
    .venv/bin/python bench/tracing.py --rounds 20 --block 100 --path /api/monitoring/performance

Two agents (``python -m api.main``, SQLite in temp dirs, the same settings but
``[tracing] enabled``) serve on 127.0.0.1; one keep-alive client sends blocks of requests to
each in turn (on, off, on, off, …), so both see the same machine at about the same time.
The default request is traced three ways: its server span (FastAPI), the token lookup and the
history query (SQLAlchemy), all written to the database by the batch exporter. Prints p50,
p90 and p99 of each and the p50 overhead. Target (issue 15): at most +10 % at p50.

On a shared machine the figures are indicative: compare the two columns of one run.
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

import httpx
from benchlib import free_port, percentile, print_header

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PATH = "/api/monitoring/metrics/history/cpu_percent?limit=20"


@contextlib.contextmanager
def agent(tracing: bool, ratio: float = 1.0) -> Iterator[tuple[str, str, Path]]:
    """An agent with tracing on or off; yields its URL, an admin token and its database."""
    port = free_port()
    tmp = Path(tempfile.mkdtemp(prefix="tracing-bench-"))
    (tmp / "agent.toml").write_text("")
    env = {
        **os.environ,
        "APPLIANCE_CONFIG_FILE": str(tmp / "agent.toml"),
        "APPLIANCE_SQLITE_PATH": str(tmp / "agent.db"),
        "APPLIANCE_PORT": str(port),
        "APPLIANCE_LOG_LEVEL": "warning",
        "APPLIANCE_TRACING__ENABLED": "true" if tracing else "false",
        "APPLIANCE_TRACING__SAMPLE_RATIO": str(ratio),
        "APPLIANCE_SECURITY__RATE_PER_TOKEN": "100000",
        "APPLIANCE_SECURITY__BURST": "1000000",
        "APPLIANCE_SECURITY__RATE_PER_ADDRESS": "100000",
        "APPLIANCE_SECURITY__ADDRESS_BURST": "1000000",
    }
    proc = subprocess.Popen([sys.executable, "-m", "api.main"], cwd=ROOT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/health", timeout=2).status_code in (200, 503):
                    break
            if time.monotonic() > deadline or proc.poll() is not None:
                raise SystemExit("the agent did not start")
            time.sleep(0.2)
        token = subprocess.run(
            [sys.executable, "-m", "appliance.security", "token", "create", "--name", "bench",
             "--role", "admin"],
            cwd=ROOT, env=env, capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
        yield url, token, tmp / "agent.db"
    finally:
        proc.terminate()
        proc.wait(30)


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def block(client: httpx.Client, path: str, n: int, out: list[float]) -> None:
    for _ in range(n):
        start = time.perf_counter()
        response = client.get(path)
        out.append((time.perf_counter() - start) * 1000)
        if response.status_code != 200:
            raise SystemExit(f"{path}: {response.status_code} {response.text[:200]}")


def stored_spans(database: Path) -> int:
    import sqlite3

    with contextlib.closing(sqlite3.connect(database)) as db:
        return int(db.execute("SELECT count(*) FROM spans").fetchone()[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--path", default=DEFAULT_PATH)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--block", type=int, default=200, help="requests per agent per round")
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument(
        "--ratio", type=float, default=0.1, help="[tracing] sample_ratio (default: its default)"
    )
    args = parser.parse_args()
    print_header()
    times: dict[str, list[float]] = {"on": [], "off": []}
    with (
        agent(True, args.ratio) as (on_url, on_token, on_db),
        agent(False) as (off_url, off_token, _),
        httpx.Client(base_url=on_url, headers=auth(on_token), timeout=10) as on,
        httpx.Client(base_url=off_url, headers=auth(off_token), timeout=10) as off,
    ):
        block(on, args.path, args.warmup, [])
        block(off, args.path, args.warmup, [])
        for _ in range(args.rounds):
            block(on, args.path, args.block, times["on"])
            block(off, args.path, args.block, times["off"])
        time.sleep(3)  # the batch exporter's last write
        spans = stored_spans(on_db)
    n = args.rounds * args.block
    print(f"{args.path}: {n} requests each, in {args.rounds} alternating blocks of {args.block}"
          f" (sample_ratio {args.ratio})")  # fmt: skip
    for name in ("off", "on"):
        t = times[name]
        print(f"  tracing {name:3}  p50 {percentile(t, 50):6.2f} ms  p90 {percentile(t, 90):6.2f} "
              f"ms  p99 {percentile(t, 99):6.2f} ms")  # fmt: skip
    p50_on, p50_off = percentile(times["on"], 50), percentile(times["off"], 50)
    overhead = (p50_on / p50_off - 1) * 100
    per_request = spans / (n + args.warmup)
    print(f"  p50 overhead: {overhead:+.1f} % (target <= +10 %); "
          f"{spans} spans stored by the traced agent ({per_request:.1f}/request)")  # fmt: skip


if __name__ == "__main__":
    main()
