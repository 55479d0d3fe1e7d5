"""One error body for every status: {"error": {status, code, reason, request_id}}."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.unit.api.conftest import Agent

Make = Callable[[Agent], Any]
CASES: dict[str, tuple[int, str, Make]] = {
    "401": (401, "unauthenticated", lambda a: a.send("GET", "/api/storage/pools")),
    "403": (
        403,
        "forbidden",
        lambda a: a.send("GET", "/api/activity", token=a.tokens["viewer"]),
    ),
    "404 route": (404, "not_found", lambda a: a.client.get("/no/such/route")),
    "404 name": (404, "not_found", lambda a: a.client.get("/api/monitoring/metrics/bogus")),
    "405": (405, "method_not_allowed", lambda a: a.client.request("PROBEA", "/health")),
    "413": (
        413,
        "body_too_large",
        lambda a: a.client.post("/api/auth/tokens", content=b"x" * 70_000),
    ),
    "413 chunked": (
        413,
        "body_too_large",
        lambda a: a.client.post("/api/auth/tokens", content=(b"x" * 10_000 for _ in range(10))),
    ),
    "422 query": (
        422,
        "invalid_request",
        lambda a: a.client.get("/api/monitoring/metrics/history/cpu_percent?limit=0"),
    ),
    "422 body": (
        422,
        "invalid_request",
        lambda a: a.client.post("/api/auth/tokens", json={"name": "../x", "role": "god"}),
    ),
    "429": (429, "too_many_failures", lambda a: _spend_failures(a)),
}


def _spend_failures(agent: Agent) -> Any:
    for _ in range(10):
        agent.send("GET", "/api/storage/pools", token="sva_" + "Z" * 43)
    return agent.send("GET", "/api/storage/pools", token="sva_" + "Z" * 43)


@pytest.fixture(params=sorted(CASES))
def case(request: pytest.FixtureRequest, agent: Agent) -> Iterator[tuple[int, str, Any]]:
    status, code, make = CASES[request.param]
    yield status, code, make(agent)


def test_every_error_has_the_one_shape(case: tuple[int, str, Any]) -> None:
    status, code, response = case
    assert response.status_code == status
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) - {"details"} == {"status", "code", "reason", "request_id"}
    assert (error["status"], error["code"]) == (status, code)
    assert error["reason"].strip()
    assert error["request_id"] == response.headers["x-request-id"]
    if status == 401:
        assert response.headers["www-authenticate"] == "Bearer"
    if status == 405:
        assert response.headers["allow"] == "GET" and "PROBEA" in error["reason"]
    if status == 429:
        assert int(response.headers["retry-after"]) >= 1
    if status == 422:
        assert error["details"] and all(set(d) == {"loc", "msg", "type"} for d in error["details"])


def test_422_names_the_fields_without_echoing_them(agent: Agent) -> None:
    r = agent.client.post("/api/auth/tokens", json={"name": "../secret-ish", "role": "god"})
    error = r.json()["error"]
    assert {tuple(d["loc"]) for d in error["details"]} == {("body", "name"), ("body", "role")}
    assert "secret-ish" not in r.text


def test_an_unexpected_error_is_a_500_with_the_shape_and_no_trace(agent: Agent) -> None:
    def boom() -> None:
        raise RuntimeError("internal detail /etc/shadow")

    agent.runtime.monitoring.metrics = boom  # type: ignore[method-assign]
    from fastapi.testclient import TestClient

    client = TestClient(agent.app, raise_server_exceptions=False)
    client.headers.update(agent.client.headers)
    r = client.get("/api/monitoring/metrics")
    assert r.status_code == 500
    error = r.json()["error"]
    assert error["code"] == "internal_error" and "/etc/shadow" not in r.text
    assert error["request_id"] in error["reason"]
