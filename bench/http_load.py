"""The load patterns of bench/agent_http.py: a fixed rate over one keep-alive connection, and N
concurrent keep-alive clients; each request's latency goes into a Result."""

from __future__ import annotations

import asyncio
import ssl as ssl_module
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from benchlib import percentile


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
