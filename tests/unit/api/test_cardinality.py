"""Bounded metric labels: 10,000 requests with random methods and paths add no series to
/metrics and no entry to /api/monitoring/performance (they did: `curl -X PROBEA` made new
ones)."""

from __future__ import annotations

import asyncio
import random
import string
from collections.abc import Callable

import httpx

from tests.unit.api.conftest import CLIENT, Agent

KNOWN = ["/health", "/metrics", "/api/storage/pools", "/api/monitoring/metrics"]
METRIC = "/api/monitoring/metrics/{}"


def word(rng: random.Random, alphabet: str, low: int = 3, high: int = 12) -> str:
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(low, high)))


def random_request(rng: random.Random, kind: int, authed: bool) -> tuple[str, str, bool]:
    method = word(rng, string.ascii_uppercase)
    name = word(rng, string.ascii_lowercase + "_" if rng.random() < 0.5 else string.printable[:62])
    unknown = "/" + "/".join(word(rng, string.ascii_letters + string.digits) for _ in range(3))
    return [
        (method, unknown, authed),  # OTHER unmatched 404
        (method, rng.choice(KNOWN), authed),  # OTHER <route> 405
        ("GET", unknown, authed),  # GET unmatched 404
        ("GET", METRIC.format(name), authed),  # 401, or 404 / 422 by name
        (method, METRIC.format(name), authed),  # OTHER <route> 405
        ("DELETE", unknown, authed),  # DELETE unmatched 404
    ][kind]


def series(agent: Agent) -> list[str]:
    text = agent.send("GET", "/metrics", token=agent.tokens["scrape"]).text
    return sorted(line.rsplit(" ", 1)[0] for line in text.splitlines() if not line.startswith("#"))


def performance_routes(agent: Agent) -> list[str]:
    return sorted(agent.client.get("/api/monitoring/performance").json()["routes"])


def test_random_methods_and_paths_add_no_series(agent_with: Callable[..., Agent]) -> None:
    agent = agent_with(security={"rate_per_address": 100_000, "address_burst": 1_000_000})
    rng = random.Random(11)  # noqa: S311 - reproducible junk, not secrets
    headers = {
        True: {"authorization": f"Bearer {agent.tokens['viewer']}"},
        False: {},
    }

    async def send_all(requests: list[tuple[str, str, bool]]) -> None:
        # Straight into the running app (its lifespan is the TestClient's): ~10x faster.
        transport = httpx.ASGITransport(app=agent.app, client=(CLIENT, 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://agent") as client:
            for method, path, authed in requests:
                await client.request(method, path, headers=headers[authed])

    # Every kind of answer once: each known route with an unknown method, unknown paths
    # with known and unknown methods, metric names valid, unknown and malformed.
    warm = [
        (method, path, authed)
        for authed in (False, True)
        for method, path in [
            *(("PROBEA", known) for known in [*KNOWN, METRIC.format("x")]),
            ("PROBEA", "/x/y"),
            ("GET", "/x/y"),
            ("DELETE", "/x/y"),
            ("GET", METRIC.format("no_such_metric")),
            ("GET", METRIC.format("Bad-Name")),
        ]
    ]
    asyncio.run(send_all(warm))
    series(agent)  # the reads below make series of their own: make them once first
    performance_routes(agent)
    before, routes_before = series(agent), performance_routes(agent)

    asyncio.run(send_all([random_request(rng, i % 6, rng.random() < 0.5) for i in range(10_000)]))

    after, routes_after = series(agent), performance_routes(agent)
    assert after == before
    assert routes_after == routes_before
    assert "OTHER unmatched" in routes_after and "OTHER /health" in routes_after
    assert len(after) < 300
