"""Error reports: an unhandled error in a request reaches a Sentry STAND-IN
(tests/standins/sentry.py, not Sentry) through the real sentry-sdk, with the DSN read from the
agent's secrets, and nothing of the secrets and personal data in it leaves the agent."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
import sentry_sdk
from fastapi.testclient import TestClient

from appliance.logs.sentry import scrub_event, start_error_tracking
from appliance.logs.settings import ErrorTrackingSettings
from appliance.secrets import SecretManager
from appliance.secrets.env import EnvBackend, variable_name
from tests.standins.sentry import SentryStandIn
from tests.unit.api.conftest import CLIENT, Agent

TOKEN = "sva_" + "Q" * 40


@pytest.fixture
def standin() -> Iterator[SentryStandIn]:
    server = SentryStandIn()
    yield server
    sentry_sdk.get_client().close()
    sentry_sdk.init()  # an inactive client again for the tests that follow
    server.close()


def secrets_with_dsn(dsn: str) -> SecretManager:
    environ = {variable_name("agent/sentry", "dsn"): dsn}
    return SecretManager(EnvBackend(environ=lambda: environ), 300.0)


def test_an_unhandled_error_is_reported_scrubbed(
    standin: SentryStandIn, agent_with: Callable[..., Agent]
) -> None:
    agent = agent_with()
    settings = ErrorTrackingSettings(dsn_secret="agent/sentry")
    assert start_error_tracking(settings, secrets_with_dsn(standin.dsn()))

    @agent.app.get("/_test/fail")
    def fail() -> None:
        raise RuntimeError(
            "connect postgresql://agent:hunter2@db/agent failed for jane@example.com"
        )

    # As a real server answers: the error becomes a 500, it is not raised into the caller.
    client = TestClient(agent.app, raise_server_exceptions=False, client=(CLIENT, 50000))
    response = client.get("/_test/fail", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 500
    sentry_sdk.flush(5)
    deadline = time.monotonic() + 5
    while not standin.events() and time.monotonic() < deadline:
        time.sleep(0.05)
    events = standin.events()
    assert events, "no event reached the stand-in"
    raw = b"".join(standin.envelopes)
    for secret in (
        b"hunter2",
        b"jane@example.com",
        TOKEN.encode(),
        agent.tokens["viewer"].encode(),
    ):
        assert secret not in raw
    exception = events[0]["exception"]["values"][-1]
    assert exception["type"] == "RuntimeError"
    assert "[REDACTED:password]" in exception["value"] and "[REDACTED:email]" in exception["value"]
    assert standin.auth_headers[0].startswith("Sentry sentry_key=")


def test_without_a_dsn_secret_reports_stay_off() -> None:
    assert not start_error_tracking(ErrorTrackingSettings(), secrets_with_dsn("http://k@h/1"))


def test_values_under_secret_names_are_masked_whatever_their_shape() -> None:
    event = {
        "request": {"headers": [["Authorization", "whatever"], ["Accept", "json"]],
                    "cookies": {"session_token": "abc"}},
        "extra": {"password": "p", "note": "mail bob@example.org", "count": 3},
    }  # fmt: skip
    cleaned = scrub_event(event)
    assert cleaned["request"]["headers"] == [["Authorization", "[REDACTED:secret]"],
                                             ["Accept", "json"]]  # fmt: skip
    assert cleaned["request"]["cookies"]["session_token"] == "[REDACTED:secret]"
    assert cleaned["extra"] == {"password": "[REDACTED:secret]",
                                "note": "mail [REDACTED:email]", "count": 3}  # fmt: skip
