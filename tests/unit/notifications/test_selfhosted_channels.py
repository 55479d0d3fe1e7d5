"""Gotify, ntfy and Matrix channels end to end: declared as the inventory declares them, their
credentials read from the secrets backend by the name the channel gives, delivered by the
agent's delivery worker through the real Apprise plugins to STAND-INS for those servers
(tests/standins/selfhosted.py; not Gotify, ntfy or a Matrix homeserver), over HTTPS with a
certificate for their host names issued by a test CA (trusted as ``[notifications] ca_bundle``
makes the agent trust it; the names resolve to the stand-in inside this process only)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from appliance.notifications.channels import trust
from appliance.notifications.declared import sync_declared
from appliance.notifications.delivery import DeliveryWorker
from appliance.notifications.models import Notification, NotifyRequest, Status
from appliance.notifications.outbox import Outbox
from appliance.notifications.service import NotificationService
from appliance.notifications.settings import DeclaredChannel, NotificationSettings
from appliance.secrets import SecretManager
from appliance.secrets.env import EnvBackend, variable_name
from tests.standins.resolver import resolve_to
from tests.standins.selfhosted import (
    GOTIFY_HOST,
    MATRIX_HOST,
    NTFY_HOST,
    SelfHostedStandIns,
)
from tests.standins.tls import TestCA
from tests.unit.conftest import AgentDatabase

POOL = {"pool": "tank", "state": "DEGRADED", "host": "appliance-1", "detail": "disk3 FAULTED"}
SUBJECT = "ZFS pool tank is DEGRADED on appliance-1"


@pytest.fixture
def standins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SelfHostedStandIns]:
    ca = TestCA(tmp_path / "ca")
    servers = SelfHostedStandIns(ca).start()
    for name in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"):
        monkeypatch.setenv(name, "")  # restored after the test; trust() sets both
    trust(ca.ca_file)  # what [notifications] ca_bundle does in the agent
    with resolve_to(servers.resolver_table()):
        yield servers
    servers.close()


@dataclass
class Agent:
    service: NotificationService
    secrets: dict[str, str]

    @property
    def outbox(self) -> Outbox:
        return self.service.outbox

    @property
    def worker(self) -> DeliveryWorker:
        return self.service.worker


def declared(s: SelfHostedStandIns) -> list[DeclaredChannel]:
    """The channels as the inventory declares them (agent.notifications.channels)."""
    items: list[dict[str, Any]] = [
        {"name": "gotify", "kind": "gotify", "options": {"url": s.url(GOTIFY_HOST)},
         "secret": "agent/notify/gotify"},
        {"name": "ntfy", "kind": "ntfy", "options": {"url": s.url(NTFY_HOST), "topic": "ops"},
         "secret": "agent/notify/ntfy"},
        {"name": "matrix", "kind": "matrix", "options": {"url": s.url(MATRIX_HOST), "room": "#ops"},
         "secret": "agent/notify/matrix"},
    ]  # fmt: skip
    return [DeclaredChannel.model_validate(item) for item in items]


def make_agent(
    db: AgentDatabase, s: SelfHostedStandIns, settings: NotificationSettings | None = None
) -> Agent:
    c = s.credentials
    env = {
        variable_name("agent/notify/gotify", "token"): c.gotify_token,
        variable_name("agent/notify/ntfy", "token"): c.ntfy_token,
        variable_name("agent/notify/matrix", "user"): c.matrix_user,
        variable_name("agent/notify/matrix", "password"): c.matrix_password,
    }
    secrets = SecretManager(EnvBackend(environ=lambda: env), 300.0)
    service = NotificationService.build(settings or NotificationSettings(), db.store(), secrets)
    assert sync_declared(service.outbox, declared(s)).created == ["gotify", "ntfy", "matrix"]
    return Agent(service, env)


@pytest.fixture
def agent(agent_db: AgentDatabase, standins: SelfHostedStandIns) -> Agent:
    return make_agent(agent_db, standins)


def notify(agent: Agent, channel: str, template: str | None = "pool_degraded") -> int:
    """Through the service's notify, as the API calls it (a template's plain rendering is
    stored; each channel kind gets its own rendering at delivery)."""
    request = NotifyRequest(
        user_id="ops",
        channel=channel,
        subject="" if template else "Plain",
        message="" if template else "disk3 <FAULTED> and *stars*",
        template=template,
        data=POOL if template else {},
    )
    (nid,) = agent.service.notify(request, created_by="test").ids
    return nid


def deliver_due(agent: Agent) -> None:
    for item in agent.outbox.claim(10, 60.0):
        agent.worker.deliver(item)


def final(agent: Agent, nid: int) -> Notification:
    got = agent.outbox.get(nid)
    assert got is not None
    return got


def assert_no_secret(agent: Agent, item: Notification) -> None:
    text = repr(item)
    for value in agent.secrets.values():
        assert value not in text


def test_gotify_gets_title_markdown_and_the_app_token(
    agent: Agent, standins: SelfHostedStandIns
) -> None:
    nid = notify(agent, "gotify")
    deliver_due(agent)
    assert final(agent, nid).status is Status.DELIVERED
    (post,) = standins.received("gotify")
    assert post.path == "/message"
    assert post.headers["x-gotify-key"] == standins.credentials.gotify_token
    assert post.body["title"] == SUBJECT
    assert post.body["message"].startswith("ZFS pool **tank** on `appliance-1` is **DEGRADED**")
    # Gotify's clients render Markdown only when the message says so.
    assert post.body["extras"] == {"client::display": {"contentType": "text/markdown"}}


def test_ntfy_gets_the_topic_markdown_and_the_access_token(
    agent: Agent, standins: SelfHostedStandIns
) -> None:
    nid = notify(agent, "ntfy")
    deliver_due(agent)
    assert final(agent, nid).status is Status.DELIVERED
    (post,) = standins.received("ntfy")
    assert post.headers["authorization"] == f"Bearer {standins.credentials.ntfy_token}"
    assert post.headers["x-markdown"] == "yes"
    assert post.body["topic"] == "ops" and post.body["title"] == SUBJECT
    assert "**DEGRADED**" in post.body["message"]


def test_a_plain_message_reaches_markdown_channels_literally(
    agent: Agent, standins: SelfHostedStandIns
) -> None:
    """No template: the stored text is escaped for Markdown, so it shows as it was written."""
    notify(agent, "gotify", template=None)
    deliver_due(agent)
    (post,) = standins.received("gotify")
    message = post.body["message"]
    assert r"and \*stars\*" in message  # not emphasis
    assert message.startswith("disk3 ") and r"FAULTED\>" in message  # not a tag


def test_matrix_logs_in_joins_the_room_by_alias_and_puts_one_html_event(
    agent: Agent, standins: SelfHostedStandIns
) -> None:
    c = standins.credentials
    nid = notify(agent, "matrix")
    deliver_due(agent)
    assert final(agent, nid).status is Status.DELIVERED
    (login,) = standins.received("matrix", "POST")[:1]
    assert login.path == "/_matrix/client/v3/login"
    assert login.body["identifier"] == {"type": "m.id.user", "user": c.matrix_user}
    joins = [r.path for r in standins.received("matrix") if "/join/" in r.path]
    assert joins == ["/_matrix/client/v3/join/%23ops%3Amatrix.lab.test"]
    (event,) = standins.room_events()
    assert event.room_id == c.matrix_room_id and event.sender == f"@{c.matrix_user}:{MATRIX_HOST}"
    assert event.content["msgtype"] == "m.text"
    assert event.content["format"] == "org.matrix.custom.html"
    assert event.content["formatted_body"].startswith(f"<h1>{SUBJECT}</h1>")
    assert "<strong>DEGRADED</strong>" in event.content["formatted_body"]
    # Every request after the login carried its token, and the session was logged out.
    (put,) = standins.received("matrix", "PUT")
    assert put.headers["authorization"].startswith("Bearer syt_")
    assert standins.logins == 1 and standins.sessions == {}


@pytest.mark.parametrize(
    ("channel", "field", "wrong"),
    [
        ("gotify", "token", "Awrongtoken1234"),
        ("ntfy", "token", "tk_wrongwrongwrongwrongwrong00"),
        ("matrix", "password", "not-the-password"),
    ],
)
def test_wrong_credentials_are_refused_and_the_error_hides_them(
    agent: Agent, standins: SelfHostedStandIns, channel: str, field: str, wrong: str
) -> None:
    agent.secrets[variable_name(f"agent/notify/{channel}", field)] = wrong
    nid = notify(agent, channel)
    deliver_due(agent)
    item = final(agent, nid)
    assert item.status is Status.PENDING and item.attempt_count == 1
    assert item.last_error and wrong not in item.last_error
    assert_no_secret(agent, item)
    assert standins.received(channel, "PUT" if channel == "matrix" else "POST") == []
    assert standins.room_events() == []


@pytest.mark.parametrize("channel", ["gotify", "ntfy", "matrix"])
def test_an_outage_is_retried_by_the_running_worker_then_delivered_once(
    agent_db: AgentDatabase, standins: SelfHostedStandIns, channel: str
) -> None:
    """The stand-in answers 503 to everything; the worker's own loop retries after its
    backoff; once the server is back the notification is delivered, once, and its history
    shows the failed attempts before the delivered one."""
    settings = NotificationSettings(
        poll_interval_s=0.05, linger_s=0, backoff_base_s=0.2, backoff_max_s=0.4
    )
    agent = make_agent(agent_db, standins, settings)
    standins.outage.add(channel)
    nid = notify(agent, channel)

    def status() -> Notification:
        return final(agent, nid)

    async def run() -> Notification:
        agent.worker.start()
        try:
            deadline = time.monotonic() + 30
            while status().attempt_count < 2 and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            standins.outage.discard(channel)
            while status().status is not Status.DELIVERED and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            return status()
        finally:
            await agent.worker.stop()

    item = asyncio.run(run())
    assert item.status is Status.DELIVERED, item
    outcomes = [a.outcome for a in item.attempts]
    assert len(outcomes) >= 3 and outcomes[-1] == "delivered"
    assert set(outcomes[:-1]) == {"failed"}
    assert all("503" in (a.error or "") for a in item.attempts[:-1]), item.attempts
    assert_no_secret(agent, item)
    if channel == "matrix":
        assert len(standins.room_events()) == 1
    else:
        assert len(standins.received(channel)) == 1
