"""schemathesis against the agent in-process (ASGI), with an admin token: every operation of
the OpenAPI document, valid and invalid inputs. Every check must hold: no 5xx, every answer
documented and matching its schema, every bad input a 4xx with a reason."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.core.parameters import ParameterLocation
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import positive_data_acceptance

from api.main import create_app
from appliance.database.connect import open_sqlite
from appliance.infrastructure.service import InfrastructureService
from appliance.runtime import AgentRuntime
from appliance.security.roles import Role
from tests.unit.agent.factories import FakeCollector, make_settings, snapshot
from tests.unit.api.conftest import CapturedZfs, fake_runner

#: Wide limits: the fuzzer's own bad credentials must not lock it out of the rest.
SECURITY = {
    "rate_per_token": 100_000,
    "burst": 1_000_000,
    "rate_per_address": 100_000,
    "address_burst": 1_000_000,
    "auth_failure_burst": 10_000,
    "auth_failures_lockout": 10_000,
}


@pytest.fixture
def fuzzed(tmp_path: Path) -> Iterator[tuple[Any, str]]:
    """A fresh agent per operation: schemathesis ends the app's lifespan after each one."""
    from appliance.host import HostInfo

    built = make_settings(security=SECURITY)
    zfs = CapturedZfs()
    store = open_sqlite(tmp_path / "agent.db")
    runtime = AgentRuntime.build(
        built,
        collect=FakeCollector(snapshot(ts=1000.0)).collect,
        store=store,
        infrastructure=InfrastructureService(
            ["sovereign-*"],
            5.0,
            fake_runner,
            lambda prog: prog in ("systemctl", "docker"),
            lambda: HostInfo("appliance", "Debian 12", "6.1.0", "x86_64", 2, 8 << 30, 0.0, 60.0),
        ),
        zfs_backend=lambda: zfs,
    )
    app = create_app(built, runtime=runtime, background=False)
    store.prepare()
    assert runtime.security is not None
    token = runtime.security.tokens.create("fuzzer", Role.ADMIN, created_by="tests").secret
    CURRENT.app = app
    yield app, token
    asgi.shutdown_lifespans()


class Current:
    """The ASGI app schemathesis calls: the agent of the running test (schemathesis starts an
    app's lifespan once and ends it after each test, so each operation gets a fresh agent)."""

    app: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)


CURRENT = Current()
# The document does not depend on settings; the agents that serve it are made by the fixture.
schema = schemathesis.openapi.from_dict(create_app().openapi())
schema.app = CURRENT
schema.config.generation.update(max_examples=25)


@schema.parametrize()
# Deterministic in CI (a red build must be reproducible); random elsewhere, to keep exploring.
@settings(
    deadline=None,
    suppress_health_check=list(HealthCheck),
    max_examples=25,
    derandomize=bool(os.environ.get("CI")),
)
def test_fuzz(case: Any, fuzzed: tuple[Any, str]) -> None:
    app, token = fuzzed
    assert CURRENT.app is app
    # The admin token, except where the fuzzer is testing bad or missing credentials.
    negative_headers = case.meta is not None and case.meta.is_negative_at(ParameterLocation.HEADER)
    headers = None if negative_headers else {"Authorization": f"Bearer {token}"}
    # A template is Jinja2 source: a schema-valid body that does not compile is a 422 by
    # design (refused when saved, never a failed delivery later).
    # Likewise a silence's regular expressions and times, and the alert routing's matchers;
    # and an alert rule's whole (hysteresis needs >, >=, < or <=; "for" at most a week).
    # A page cursor is the server's own token (one it did not make is a 422), and an OTLP
    # export's body is protobuf or OTLP JSON, which no schema describes (else 400/415).
    semantic = (
        "/notifications/templates", "/api/silences", "/api/alerting/routes", "/api/alerts",
        "/api/traces", "/v1/",
    )  # fmt: skip
    excluded = [positive_data_acceptance] if any(p in case.path for p in semantic) else []
    response = case.call_and_validate(headers=headers, excluded_checks=excluded)
    assert response.status_code < 500
    if response.status_code >= 400:
        error = response.json()["error"]
        assert error["reason"].strip() and error["status"] == response.status_code
