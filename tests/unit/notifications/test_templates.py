"""Templates: the predefined ones render for every channel kind, SMS within 160 characters,
HTML + text email delivered to aiosmtpd, Markdown to chat; a broken template is a 422 when it
is created (syntax, sandbox escapes), never a failed delivery."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack

import pytest

from appliance.notifications.models import KINDS, Channel
from appliance.notifications.templates import PREDEFINED, SMS_LIMIT, Template, check, render
from tests.unit.api.conftest import Agent, start_agent
from tests.unit.notifications.receivers import SmtpReceiver, WebhookReceiver
from tests.unit.notifications.test_notify_api import drain

DATA = {
    "alert": "PoolCapacity",
    "host": "appliance-1",
    "severity": "critical",
    "since": "12:00",
    "summary": "tank is 96% full " * 20,
    "pool": "tank",
    "state": "DEGRADED",
    "detail": "disk3 <FAULTED>",
    "job": "nightly",
    "at": "03:00",
    "error": "exit 1",
}


@pytest.mark.parametrize("name", sorted(PREDEFINED))
@pytest.mark.parametrize("kind", KINDS)
def test_every_predefined_template_renders_for_every_kind(name: str, kind: str) -> None:
    check(PREDEFINED[name], DATA)
    r = render(PREDEFINED[name], kind, DATA)
    assert r.subject and r.text and "{{" not in r.subject + r.text
    if kind == "twilio":
        assert len(r.text) <= SMS_LIMIT
    if kind == "email":
        assert r.html and r.html.startswith("<p>")
    if kind in ("slack", "teams", "matrix", "ntfy", "gotify"):
        assert r.markdown


def test_html_is_escaped_text_is_not() -> None:
    r = render(PREDEFINED["pool_degraded"], "email", DATA)
    assert "disk3 &lt;FAULTED&gt;" in (r.html or "")
    assert "disk3 <FAULTED>" in r.text


def test_sms_is_cut_to_160_characters() -> None:
    r = render(PREDEFINED["alert_firing"], "twilio", DATA)
    assert len(r.text) == SMS_LIMIT and r.text.endswith("…")


@pytest.fixture
def agent() -> Iterator[Agent]:
    with ExitStack() as stack:
        yield start_agent(stack)


@pytest.mark.parametrize(
    ("part", "source", "why"),
    [
        ("text", "{{ unclosed", "unexpected end of template"),
        ("subject", "{% for %}", "Expected"),
        ("text", "{{ ''.__class__.__mro__ }}", "unsafe"),
        ("html", "{{ 1 / 0 }}", "ZeroDivisionError"),
        ("sms", "{{ cycler.__init__.__globals__ }}", "unsafe"),
    ],
)
def test_a_broken_template_is_a_422_at_creation(
    agent: Agent, part: str, source: str, why: str
) -> None:
    body = {"name": "broken", "subject": "s", "text": "t", part: source}
    r = agent.client.post("/api/notifications/templates", json=body)
    assert r.status_code == 422, r.text
    assert part in r.json()["error"]["reason"] and why in r.json()["error"]["reason"]
    names = [
        t["name"] for t in agent.client.get("/api/notifications/templates").json()["templates"]
    ]
    assert "broken" not in names


def test_custom_template_crud_and_predefined_are_read_only(agent: Agent) -> None:
    body = {"name": "disk-smart", "subject": "SMART {{ disk }}", "text": "{{ disk }} failing"}
    assert agent.client.post("/api/notifications/templates", json=body).status_code == 201
    assert agent.client.post("/api/notifications/templates", json=body).status_code == 409
    r = agent.send(
        "POST", "/api/notifications/templates", token=agent.tokens["operator"], json=body
    )
    assert r.status_code == 403
    body["text"] = "{{ disk }} is failing"
    assert agent.client.put("/api/notifications/templates/disk-smart", json=body).status_code == 200
    listed = agent.client.get("/api/notifications/templates").json()["templates"]
    assert {t["name"] for t in listed} == {*PREDEFINED, "disk-smart"}
    assert [t["text"] for t in listed if t["name"] == "disk-smart"] == ["{{ disk }} is failing"]
    fixed = {**body, "name": "test_message"}
    assert (
        agent.client.put("/api/notifications/templates/test_message", json=fixed).status_code == 409
    )
    assert agent.client.delete("/api/notifications/templates/test_message").status_code == 409
    assert agent.client.delete("/api/notifications/templates/disk-smart").status_code == 204
    assert agent.client.delete("/api/notifications/templates/disk-smart").status_code == 404


def test_one_notification_gets_html_email_and_markdown_chat(
    agent: Agent, smtp: SmtpReceiver, webhook: WebhookReceiver
) -> None:
    assert agent.runtime.notifications is not None
    outbox = agent.runtime.notifications.outbox
    opts = {"host": "127.0.0.1", "port": smtp.port, "tls": "none", "from": "agent@example.com"}
    outbox.put_channel(Channel("email", "email", opts), create=True)
    # ntfy speaks Markdown; its server here is the webhook receiver (a stand-in for ntfy).
    outbox.put_channel(
        Channel("chat", "ntfy", {"url": f"http://127.0.0.1:{webhook.port}", "topic": "ops"}),
        create=True,
    )
    for channel in ("email", "chat"):
        body = {
            "user_id": "user123",
            "channel": channel,
            "to": "user123@example.com" if channel == "email" else None,
            "template": "pool_degraded",
            "data": {"pool": "tank", "state": "DEGRADED", "host": "appliance-1"},
            "severity": "error",
        }
        r = agent.client.post("/api/notifications/notify", json=body)
        assert r.status_code == 202, r.text
    history = agent.client.get("/api/notifications").json()["notifications"]
    assert {n["subject"] for n in history} == {"ZFS pool tank is DEGRADED on appliance-1"}
    drain(agent)
    mail = smtp.messages[0].message
    parts = {
        p.get_content_type(): p.get_payload(decode=True).decode()
        for p in mail.walk()
        if not p.is_multipart()
    }
    assert "<b>tank</b>" in parts["text/html"]
    # Apprise writes the text part beside the HTML from the HTML itself.
    assert " ".join(parts["text/plain"].split()) == "ZFS pool tank on appliance-1 is DEGRADED."
    (post,) = webhook.delivered()
    assert post["headers"].get("X-Markdown") in ("yes", "true", "1") or "**tank**" in str(
        post["json"]
    )


def test_an_unknown_template_is_refused_at_notify(agent: Agent) -> None:
    body = {"user_id": "u", "channel": "x", "template": "nope", "subject": "", "message": ""}
    r = agent.client.post("/api/notifications/notify", json=body)
    assert r.status_code == 404


def test_a_template_failing_at_delivery_falls_back_to_the_stored_text() -> None:
    t = Template("t", "{{ x.y.z() }}", "body")
    with pytest.raises(Exception):  # noqa: B017 - the renderer raises; the worker catches
        render(t, "email", {})
