"""The client bench/notifications.py times requests with, in a process of its own: one
keep-alive connection (http.client, the standard library's), one request each 1/RATE s (one
at a time: a slow answer delays the next send), each one's latency from its send to the end
of its answer.

Why not httpx in the bench's own process: there it cost ~1.5-2.5 ms of CPU per request, and
it shared one interpreter lock with the bench's webhook receiver, whose threads take every
delivery: a request's answer could wait for them (Python's switch interval is 5 ms) before its
latency was read. The figures printed beside say what the client itself costs.

    .venv/bin/python bench/notifications_client.py URL TOKEN METHOD PATH BODY RATE COUNT STATUS
    # prints one JSON object: {"latencies_ms": [...], "cpu_ms_per_request": x}
"""

from __future__ import annotations

import json
import resource
import sys
import time
from http.client import HTTPConnection
from urllib.parse import urlsplit


def thread_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_THREAD)
    return usage.ru_utime + usage.ru_stime


def run(argv: list[str]) -> dict[str, object]:
    url, token, method, path, body, rate, count, status = argv
    parts = urlsplit(url)
    conn = HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
    payload = body.encode() if body else None
    headers = {"Authorization": f"Bearer {token}"}
    if payload is not None:
        headers["Content-Type"] = "application/json"

    def call() -> None:
        conn.request(method, path, payload, headers)
        response = conn.getresponse()
        response.read()
        if response.status != int(status):
            raise SystemExit(f"{method} {path}: {response.status}, not {status}")

    call()  # the connection opened, not timed
    latencies = []
    n, interval = int(count), 1.0 / float(rate)
    cpu_before = thread_cpu_s()
    start = time.perf_counter()
    for i in range(n):
        time.sleep(max(0.0, start + i * interval - time.perf_counter()))
        t0 = time.perf_counter()
        call()
        latencies.append((time.perf_counter() - t0) * 1000)
    cpu = thread_cpu_s() - cpu_before
    conn.close()
    return {"latencies_ms": latencies, "cpu_ms_per_request": cpu / n * 1000}


if __name__ == "__main__":
    print(json.dumps(run(sys.argv[1:])))
