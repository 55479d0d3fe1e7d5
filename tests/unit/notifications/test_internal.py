"""``[notifications] internal_channel``: a dead letter raises one internal notification (its
own template, severity error) to ``internal_user`` on that channel, rendered per channel kind;
a dead internal notification raises none, and without the setting (or the channel) none is
raised either — delivered through Apprise to a real webhook receiver and SMTP server."""

from __future__ import annotations

import logging

import pytest

from appliance.notifications.delivery import DeliveryWorker
from appliance.notifications.models import Channel, Notification, NotifyRequest, Severity, Status
from appliance.notifications.outbox import HistoryQuery, Outbox, Planned
from appliance.notifications.settings import NotificationSettings
from appliance.notifications.templates import Templates
from appliance.secrets import SecretManager
from appliance.secrets.env import EnvBackend
from tests.unit.conftest import AgentDatabase
from tests.unit.notifications.conftest import Clock
from tests.unit.notifications.receivers import SmtpReceiver, WebhookReceiver

SETTINGS = NotificationSettings(
    backoff_base_s=10.0,
    backoff_max_s=10.0,
    breaker_failures=1000,
    dead_after_s=100.0,
    internal_user="ops",
    internal_channel="ops",
)


def world(
    agent_db: AgentDatabase, settings: NotificationSettings, ops: Channel | None
) -> tuple[Outbox, DeliveryWorker, Clock]:
    clock = Clock()
    store = agent_db.store()
    outbox = Outbox(store, clock)
    secrets = SecretManager(EnvBackend(environ=dict), 300.0)
    worker = DeliveryWorker(
        outbox, secrets, settings, clock=clock, templates=Templates(store, clock)
    )
    # Nothing listens on port 9: every delivery to "dead" fails.
    outbox.put_channel(Channel("dead", "webhook", {"url": "http://127.0.0.1:9/x"}), create=True)
    if ops is not None:
        outbox.put_channel(ops, create=True)
    return outbox, worker, clock


def run_until_settled(outbox: Outbox, worker: DeliveryWorker, clock: Clock) -> None:
    """Deliver whatever is due, moving the clock to the next due time, until nothing is."""
    for _ in range(50):
        pending = outbox.history(HistoryQuery(status=Status.PENDING, limit=500))[0]
        if not pending:
            return
        clock.now = max(clock.now, min(n.next_attempt_at for n in pending))
        for item in outbox.claim(100, 60.0):
            worker.deliver(item)
    raise AssertionError("deliveries did not settle")


def send_doomed(outbox: Outbox) -> int:
    request = NotifyRequest(user_id="u1", subject="s", message="m", channel="dead")
    return outbox.notify(request, [Planned("dead", None)], created_by="t").ids[0]


def internal_ones(outbox: Outbox) -> list[Notification]:
    return [n for n in outbox.history(HistoryQuery(limit=500))[0] if n.type == "internal"]


def test_a_dead_letter_raises_one_internal_notification_rendered_for_its_channel(
    agent_db: AgentDatabase, smtp: SmtpReceiver
) -> None:
    ops = Channel(
        "ops",
        "email",
        {
            "host": "127.0.0.1",
            "port": smtp.port,
            "tls": "none",
            "from": "agent@example.com",
            "to": "ops@example.com",
        },
    )
    outbox, worker, clock = world(agent_db, SETTINGS, ops)
    nid = send_doomed(outbox)
    run_until_settled(outbox, worker, clock)
    dead = outbox.get(nid)
    assert dead is not None and dead.status is Status.DEAD
    (raised,) = internal_ones(outbox)
    assert (raised.user_id, raised.channel, raised.severity) == ("ops", "ops", Severity.ERROR)
    assert raised.template == "notification_dead" and raised.data["notification"] == nid
    assert raised.subject == f"Notification {nid} could not be delivered"
    assert raised.status is Status.DELIVERED
    # The email got the template's HTML part, with the error of the last attempt in it.
    (mail,) = [m.message for m in smtp.messages if m.message["Subject"] == raised.subject]
    html = next(p for p in mail.walk() if p.get_content_type() == "text/html")
    body = html.get_payload(decode=True)
    assert isinstance(body, bytes) and b"<pre>" in body


def test_a_dead_internal_notification_raises_no_other(
    agent_db: AgentDatabase, webhook: WebhookReceiver
) -> None:
    webhook.status = 503  # the internal channel is down too
    ops = Channel("ops", "webhook", {"url": webhook.url})
    outbox, worker, clock = world(agent_db, SETTINGS, ops)
    send_doomed(outbox)
    run_until_settled(outbox, worker, clock)
    (raised,) = internal_ones(outbox)  # one, and it died too: nothing recursed
    assert raised.status is Status.DEAD
    assert len(outbox.history(HistoryQuery(limit=500))[0]) == 2


@pytest.mark.parametrize("setting", ["unset", "missing channel"])
def test_without_an_internal_channel_a_dead_letter_raises_none(
    agent_db: AgentDatabase, setting: str, caplog: pytest.LogCaptureFixture
) -> None:
    settings = SETTINGS.model_copy(
        update={"internal_channel": None if setting == "unset" else "nowhere"}
    )
    outbox, worker, clock = world(agent_db, settings, None)
    nid = send_doomed(outbox)
    with caplog.at_level(logging.ERROR, logger="appliance.notifications.delivery"):
        run_until_settled(outbox, worker, clock)
    assert (n := outbox.get(nid)) is not None and n.status is Status.DEAD
    assert internal_ones(outbox) == []
    if setting == "missing channel":
        assert "internal_channel nowhere does not exist" in caplog.text
