"""How the agent is served (issue 11's throughput): uvicorn on uvloop with httptools, and the
hot routes answered on the event loop without a hop to the threadpool."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import fastapi.dependencies.utils
import pytest
import uvloop
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

import api.audit
import api.auth
from api.main import server_config
from tests.unit.agent.factories import make_settings
from tests.unit.api.conftest import Agent


def test_uvicorn_serves_the_agent_on_uvloop_with_httptools(agent: Agent) -> None:
    config = server_config(make_settings(), agent.app)
    config.load()
    assert config.http_protocol_class is HttpToolsProtocol
    factory = config.get_loop_factory()
    assert factory is not None
    loop = factory()
    try:
        assert isinstance(loop, uvloop.Loop)
    finally:
        loop.close()
    assert config.workers == 1  # background work and in-memory state exist once
    assert config.access_log is False


@pytest.fixture
def thread_hops(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every call a request makes into the threadpool (FastAPI's for sync dependencies and
    routes, ours for database reads and audit writes), by the function it runs."""
    hops: list[str] = []

    def counting(real: Callable[..., Any]) -> Callable[..., Any]:
        async def run(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
            hops.append(getattr(func, "__qualname__", repr(func)))
            return await real(func, *args, **kwargs)

        return run

    for module in (fastapi.dependencies.utils, api.auth, api.audit):
        monkeypatch.setattr(module, "run_in_threadpool", counting(module.run_in_threadpool))
    return hops


def test_health_is_answered_without_a_thread_hop(agent: Agent, thread_hops: list[str]) -> None:
    assert agent.send("GET", "/health").status_code == 200
    assert thread_hops == []


def test_an_authenticated_get_reads_the_database_only_on_a_cache_miss(
    agent: Agent, thread_hops: list[str]
) -> None:
    token = agent.tokens["viewer"]
    agent.security.tokens.forget_cache()
    assert agent.send("GET", "/api/monitoring/metrics", token).status_code == 200
    assert thread_hops == ["TokenService.verify"]  # the miss: one database read
    thread_hops.clear()
    for _ in range(3):
        assert agent.send("GET", "/api/monitoring/metrics", token).status_code == 200
    assert thread_hops == []  # cache hits: no database, no audit record for a read
