"""POST /api/notifications/notify and GET /api/notifications in-process, delivered by the
real worker through Apprise to a real SMTP server (aiosmtpd) and a webhook receiver."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import ExitStack

import pytest

from appliance.notifications.models import Channel
from appliance.notifications.service import NotificationService
from appliance.secrets import SecretManager
from appliance.secrets.env import EnvBackend
from appliance.security.audit import AuditQuery
from tests.unit.api.conftest import Agent, start_agent
from tests.unit.notifications.receivers import HEADER, SmtpReceiver, WebhookReceiver

SPEC_BODY = {
    "user_id": "user123",
    "type": "email",
    "channel": "email",
    "subject": "Model Validation Complete",
    "message": "Your model has been validated successfully.",
    "to": "user123@example.com",
}
WEBHOOK_TOKEN = "wh-token-7f3a9c1e5d"


@pytest.fixture
def agent() -> Iterator[Agent]:
    with ExitStack() as stack:
        environ = {"APPLIANCE_SECRET_NOTIFY__HOOK__TOKEN": WEBHOOK_TOKEN}
        secrets = SecretManager(EnvBackend(environ=lambda: environ), 300.0)
        yield start_agent(stack, secret_manager=secrets)


def service(agent: Agent) -> NotificationService:
    assert agent.runtime.notifications is not None
    return agent.runtime.notifications


def drain(agent: Agent) -> int:
    """Run the worker's deliveries until nothing is due (the worker's own code, in the test's
    thread)."""
    done = 0
    svc = service(agent)
    while batch := svc.outbox.claim(100, 60.0):
        for item in batch:
            svc.worker.deliver(item)
            done += 1
    return done


def add_email(agent: Agent, smtp: SmtpReceiver) -> None:
    service(agent).outbox.put_channel(
        Channel(
            "email",
            "email",
            {"host": "127.0.0.1", "port": smtp.port, "tls": "none", "from": "agent@example.com"},
        ),
        create=True,
    )


def test_the_spec_example_is_accepted_stored_and_the_email_arrives(
    agent: Agent, smtp: SmtpReceiver
) -> None:
    add_email(agent, smtp)
    r = agent.send(
        "POST", "/api/notifications/notify", token=agent.tokens["operator"], json=SPEC_BODY
    )
    assert r.status_code == 202, r.text
    nid = r.json()["id"]
    assert r.json()["status"] == "accepted"
    # In the outbox before any delivery.
    listed = agent.client.get("/api/notifications", params={"user_id": "user123"}).json()
    assert [(n["id"], n["status"]) for n in listed["notifications"]] == [(nid, "pending")]

    assert drain(agent) == 1
    assert len(smtp.messages) == 1
    mail = smtp.messages[0]
    assert mail.message["Subject"] == "Model Validation Complete"
    assert mail.rcpt == ["user123@example.com"]
    assert mail.message[HEADER] == str(nid)
    assert "validated successfully" in mail.message.get_payload()
    item = agent.client.get("/api/notifications", params={"status": "delivered"}).json()
    (n,) = item["notifications"]
    assert n["id"] == nid and n["delivered_at"] is not None and n["attempt_count"] == 1
    assert [a["outcome"] for a in n["attempts"]] == ["delivered"]
    records, _ = agent.security.audit.query(AuditQuery(action="notification.notify"))
    assert [(r.actor, r.target, r.outcome) for r in records] == [
        ("test-operator", "user123", "success")
    ]


def test_an_idempotency_key_makes_a_retry_return_the_first_notification(
    agent: Agent, smtp: SmtpReceiver
) -> None:
    add_email(agent, smtp)
    headers = {"Idempotency-Key": "order-42_retry"}
    first = agent.send(
        "POST",
        "/api/notifications/notify",
        token=agent.tokens["operator"],
        json=SPEC_BODY,
        headers=headers,
    )
    again = agent.send(
        "POST",
        "/api/notifications/notify",
        token=agent.tokens["operator"],
        json=SPEC_BODY,
        headers=headers,
    )
    other = agent.send(
        "POST",
        "/api/notifications/notify",
        token=agent.tokens["operator"],
        json=SPEC_BODY,
        headers={"Idempotency-Key": "order-43"},
    )
    assert first.status_code == again.status_code == other.status_code == 202
    assert again.json() == {**first.json(), "status": "duplicate"}
    assert other.json()["id"] != first.json()["id"]
    drain(agent)
    assert sorted(smtp.counts().values()) == [1, 1]


@pytest.mark.parametrize(
    ("role", "method", "path", "expected"),
    [
        ("viewer", "POST", "/api/notifications/notify", 403),
        ("scrape", "GET", "/api/notifications", 403),
        (None, "GET", "/api/notifications", 401),
        ("operator", "POST", "/api/notifications/channels", 403),
        ("viewer", "GET", "/api/notifications/channels", 200),
    ],
)
def test_roles(agent: Agent, role: str | None, method: str, path: str, expected: int) -> None:
    body = SPEC_BODY if "notify" in path else {"name": "x", "kind": "webhook", "options": {}}
    token = agent.tokens[role] if role else None
    r = agent.send(method, path, token=token, json=body if method == "POST" else None)
    assert r.status_code == expected, r.text


def test_changing_a_channel_needs_a_step_up(agent: Agent) -> None:
    body = {"name": "hook", "kind": "webhook", "options": {"url": "http://127.0.0.1:9/h"}}
    r = agent.send("POST", "/api/notifications/channels", token=agent.tokens["admin"], json=body)
    assert r.status_code == 403, r.text
    assert service(agent).outbox.channels() == []
    # Refused before the route ran: recorded under the route's method and path.
    records, _ = agent.security.audit.query(AuditQuery(actor="test-admin"))
    assert [(r.action, r.outcome) for r in records] == [
        ("POST /api/notifications/channels", "denied")
    ]


def test_an_unknown_channel_is_refused_before_anything_is_written(agent: Agent) -> None:
    r = agent.send(
        "POST", "/api/notifications/notify", token=agent.tokens["operator"], json=SPEC_BODY
    )
    assert r.status_code == 404
    assert "no channel 'email'" in r.json()["error"]["reason"]
    assert agent.client.get("/api/notifications").json()["notifications"] == []


def test_webhook_credentials_reach_the_receiver_and_nothing_else(
    agent: Agent, webhook: WebhookReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    service(agent).outbox.put_channel(
        Channel("hook", "webhook", {"url": webhook.url}, secret="notify/hook"), create=True
    )
    body = {**SPEC_BODY, "channel": "hook", "to": None}
    webhook.status = 500  # first attempt fails: its error is kept
    r = agent.send("POST", "/api/notifications/notify", token=agent.tokens["operator"], json=body)
    assert r.status_code == 202
    drain(agent)
    svc = service(agent)
    svc.outbox._clock = lambda: 1e12  # due again now, not after the backoff
    webhook.status = 200
    try:
        drain(agent)
    finally:
        svc.outbox._clock = __import__("time").time
    (post,) = webhook.delivered()
    assert post["headers"]["Authorization"] == f"Bearer {WEBHOOK_TOKEN}"
    assert post["headers"][HEADER] == str(r.json()["id"])
    assert post["json"]["title"] == "Model Validation Complete"
    outputs = [
        agent.client.get("/api/notifications").text,
        agent.client.get("/api/notifications/channels").text,
        caplog.text,
    ]
    assert all(WEBHOOK_TOKEN not in text for text in outputs)
    n = agent.client.get("/api/notifications").json()["notifications"][0]
    assert [a["outcome"] for a in n["attempts"]] == ["failed", "delivered"]
    assert n["attempts"][0]["error"]


def test_history_filters_and_cursor_pages(agent: Agent, smtp: SmtpReceiver) -> None:
    add_email(agent, smtp)
    service(agent).outbox.put_channel(
        Channel("hook", "webhook", {"url": "http://127.0.0.1:9/h"}), create=True
    )
    made = []
    for user, channel in [("a", "email"), ("b", "email"), ("a", "hook"), ("a", "email")]:
        body = {**SPEC_BODY, "user_id": user, "channel": channel}
        made.append(agent.client.post("/api/notifications/notify", json=body).json()["id"])
    drain(agent)  # the emails go out; the hook (port 9) fails

    def ids(**params: object) -> list[int]:
        r = agent.client.get("/api/notifications", params=params)
        assert r.status_code == 200, r.text
        return [n["id"] for n in r.json()["notifications"]]

    assert ids() == made[::-1]
    assert ids(user_id="a") == [made[3], made[2], made[0]]
    assert ids(channel="hook") == [made[2]]
    assert ids(status="pending") == [made[2]]
    assert ids(status="delivered", user_id="a") == [made[3], made[0]]
    assert ids(since=2e9) == [] and ids(until=2e9) == made[::-1]
    pages, cursor = [], None
    while True:
        params: dict[str, object] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        body = agent.client.get("/api/notifications", params=params).json()
        pages.append([n["id"] for n in body["notifications"]])
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert pages == [made[:0:-1], [made[0]]]
