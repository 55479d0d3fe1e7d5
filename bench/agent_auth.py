"""What the token check adds to a request: the same handler, same app, same middleware, mounted
twice (``/bench/with``, ``/bench/without``) with and without the role dependency, side by side.
(A FastAPI dependency override is not a fair "without": FastAPI re-inspects an overridden
dependency on every request.)

In-process (httpx over ASGI, no sockets): what is measured is the agent's own work, not the
network's. Blocks of each variant alternate so drift (CPU frequency, other load) hits both.
Also: the check alone on a cache hit, and a request whose token is not in the cache (one
database read, SQLite here).

Usage: .venv/bin/python bench/agent_auth.py [--requests 4000] [--path /api/monitoring/metrics]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

import httpx
from benchlib import percentile, print_header
from fastapi import Depends, FastAPI
from fastapi.routing import APIRoute

from api.auth import require
from api.main import create_app
from appliance.config import Settings
from appliance.runtime import AgentRuntime
from appliance.security.roles import Role

BLOCK = 200


def build(directory: Path, path: str) -> tuple[AgentRuntime, FastAPI]:
    settings = Settings(
        sqlite_path=directory / "agent.db",
        security={"rate_per_token": 100_000, "burst": 1_000_000, "rate_per_address": 100_000,
                  "address_burst": 1_000_000},
    )  # fmt: skip
    runtime = AgentRuntime.build(settings)
    app = create_app(settings, runtime=runtime, background=False)
    route = next(r for r in api_routes() if r.path == path and "GET" in r.methods)
    for suffix, dependencies in (("with", [Depends(require(Role.VIEWER))]), ("without", [])):
        app.add_api_route(
            f"/bench/{suffix}",
            route.endpoint,
            response_model=route.response_model,
            dependencies=dependencies,
        )
    app.state.runtime = runtime  # the lifespan is not run: the bench starts the runtime
    return runtime, app


def api_routes() -> list[APIRoute]:
    """The routes of the read-only routers, as declared (paths with their prefix)."""
    from api.routes import monitoring, storage

    return [
        r for router in (monitoring.router, storage.router) for r in router.routes
        if isinstance(r, APIRoute)
    ]  # fmt: skip


async def timed(client: httpx.AsyncClient, path: str, n: int, out: list[float]) -> None:
    for _ in range(n):
        start = time.perf_counter()
        response = await client.get(path)
        out.append((time.perf_counter() - start) * 1000)
        if response.status_code != 200:
            raise SystemExit(f"{path}: {response.status_code} {response.text[:200]}")


async def run(requests: int, path: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        runtime, app = build(Path(tmp), path)
        await runtime.start(background=False)
        assert runtime.security is not None
        token = runtime.security.tokens.create("bench", Role.VIEWER, created_by="bench").secret
        headers = {"authorization": f"Bearer {token}"}
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, client=("127.0.0.1", 1)),
            base_url="http://agent",
            headers=headers,
        )
        samples: dict[str, list[float]] = {"with": [], "without": []}
        for name in samples:  # warm-up: imports, caches, first DB read
            await timed(client, f"/bench/{name}", 200, [])
        for _ in range(max(1, requests // BLOCK)):
            for name in samples:
                await timed(client, f"/bench/{name}", BLOCK, samples[name])

        # The check alone on a cache hit (what the dependency does before the route runs).
        tokens = runtime.security.tokens
        check: list[float] = []
        for _ in range(requests):
            start = time.perf_counter()
            tokens.cached(token)
            check.append((time.perf_counter() - start) * 1000)
        # A request whose token must be read from the database (cache emptied each time).
        miss: list[float] = []
        for _ in range(min(500, requests)):
            tokens.forget_cache()
            await timed(client, "/bench/with", 1, miss)
        await client.aclose()
        await runtime.stop()

    def row(label: str, values: list[float]) -> str:
        return (
            f"{label:<44} n={len(values):>5}  p50 {percentile(values, 50):7.3f} ms  "
            f"p99 {percentile(values, 99):7.3f} ms"
        )

    print(f"the handler of GET {path}, in-process (httpx ASGITransport), SQLite store")
    print(row("without the token check", samples["without"]))
    print(row("with the token check (cache hit)", samples["with"]))
    print(
        f"{'added by the check':<44}          p50 "
        f"{percentile(samples['with'], 50) - percentile(samples['without'], 50):7.3f} ms  "
        f"p99 {percentile(samples['with'], 99) - percentile(samples['without'], 99):7.3f} ms"
    )
    print(row("the check alone (hash + cache lookup)", check))
    print(row("with the token check, cache miss (DB read)", miss))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=4000, help="per variant")
    parser.add_argument("--path", default="/api/monitoring/metrics")
    args = parser.parse_args()
    print_header()
    asyncio.run(run(args.requests, args.path))


if __name__ == "__main__":
    main()
