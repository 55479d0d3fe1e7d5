"""An error report names the trace of the request it happened in (tags trace_id, span_id),
the trace stored at /api/traces/{trace_id}: through the real sentry-sdk to the Sentry
stand-in (tests/standins/sentry.py)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
import sentry_sdk
from fastapi.testclient import TestClient

from appliance.logs.sentry import start_error_tracking
from appliance.logs.settings import ErrorTrackingSettings
from appliance.secrets import SecretManager
from appliance.secrets.env import EnvBackend, variable_name
from tests.standins.sentry import SentryStandIn
from tests.unit.api.conftest import CLIENT, Agent
from tests.unit.tracing.conftest import flush


@pytest.fixture
def standin() -> Iterator[SentryStandIn]:
    server = SentryStandIn()
    yield server
    sentry_sdk.get_client().close()
    sentry_sdk.init()
    server.close()


def test_an_error_report_names_its_trace(
    standin: SentryStandIn, agent_with: Callable[..., Agent]
) -> None:
    agent = agent_with()
    environ = {variable_name("agent/sentry", "dsn"): standin.dsn()}
    secrets = SecretManager(EnvBackend(environ=lambda: environ), 300.0)
    assert start_error_tracking(ErrorTrackingSettings(dsn_secret="agent/sentry"), secrets)

    @agent.app.get("/_test/fail")
    def fail() -> None:
        raise RuntimeError("boom")

    client = TestClient(agent.app, raise_server_exceptions=False, client=(CLIENT, 50000))
    token = agent.tokens["viewer"]
    assert (
        client.get("/_test/fail", headers={"Authorization": f"Bearer {token}"}).status_code == 500
    )
    sentry_sdk.flush(5)
    deadline = time.monotonic() + 5
    while not standin.events() and time.monotonic() < deadline:
        time.sleep(0.05)
    (event,) = standin.events()
    tags = event["tags"]
    flush(agent)
    trace = agent.client.get(f"/api/traces/{tags['trace_id']}").json()
    spans = [trace["roots"][0], *trace["roots"][0]["children"]]
    assert trace["roots"][0]["name"] == "GET /_test/fail"
    assert tags["span_id"] in {s["span_id"] for s in spans}
