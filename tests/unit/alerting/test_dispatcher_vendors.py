"""The issue's done-when for severity routing, end to end: alerts through the dispatcher's
default tree, the outbox and the real Apprise code to STAND-INS for Slack, PagerDuty and
Twilio (tests/standins; not the vendors, over HTTPS with a test CA), a real SMTP server
(aiosmtpd) and a webhook receiver. CRITICAL reaches PagerDuty, SMS and every other channel;
ERROR email and Slack; WARNING only Slack."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance.alerting.dispatch.dispatcher import Dispatcher
from appliance.alerting.dispatch.settings import DispatchSettings, RoutingSettings
from appliance.alerting.dispatch.store import DispatchStore
from appliance.alerting.models import AlertLevel
from appliance.notifications.models import Channel
from appliance.notifications.service import NotificationService
from appliance.notifications.settings import NotificationSettings
from appliance.secrets import SecretManager
from appliance.secrets.env import EnvBackend, variable_name
from tests.standins.resolver import resolve_to
from tests.standins.tls import TestCA
from tests.standins.vendors import VendorStandIns
from tests.unit.alerting.dispatch_support import alert
from tests.unit.conftest import AgentDatabase
from tests.unit.notifications.conftest import Clock
from tests.unit.notifications.receivers import SmtpReceiver, WebhookReceiver


@pytest.fixture
def vendors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[VendorStandIns]:
    ca = TestCA(tmp_path / "ca")
    standins = VendorStandIns(ca).start()
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(ca.ca_file))
    with resolve_to(standins.resolver_table()):
        yield standins
    standins.close()


def service(
    agent_db: AgentDatabase, vendors: VendorStandIns, smtp: SmtpReceiver, webhook: WebhookReceiver
) -> NotificationService:
    creds = vendors.credentials
    secrets = {
        ("notify/slack", "url"): creds.slack_url,
        ("notify/pd", "integration_key"): creds.pagerduty_routing_key,
        ("notify/pd", "api_key"): creds.pagerduty_api_key,
        ("notify/sms", "account_sid"): creds.twilio_sid,
        ("notify/sms", "auth_token"): creds.twilio_token,
    }
    environ = {variable_name(name, field): value for (name, field), value in secrets.items()}
    manager = SecretManager(EnvBackend(environ=lambda: environ), 300.0)
    svc = NotificationService.build(NotificationSettings(), agent_db.store(), manager, Clock())
    mail = {"host": "127.0.0.1", "port": smtp.port, "tls": "none", "from": "agent@example.com",
            "to": "ops@example.com"}  # fmt: skip
    for channel in (
        Channel("team-slack", "slack", {}, secret="notify/slack"),
        Channel("oncall-pd", "pagerduty", {}, secret="notify/pd"),
        Channel("oncall-sms", "twilio", {"from": "+15550001111", "to": "+15552223333"},
                secret="notify/sms"),
        Channel("ops-mail", "email", mail),
        Channel("hook", "webhook", {"url": webhook.url}),
    ):  # fmt: skip
        svc.outbox.put_channel(channel, create=True)
    return svc


def test_each_severity_reaches_its_receivers_and_no_others(
    agent_db: AgentDatabase, vendors: VendorStandIns, smtp: SmtpReceiver, webhook: WebhookReceiver
) -> None:
    svc = service(agent_db, vendors, smtp, webhook)
    clock = svc.clock
    d = Dispatcher(
        DispatchStore(agent_db.store()), svc, DispatchSettings(), RoutingSettings(), clock
    )
    d.submit(alert("PoolFaulted", AlertLevel.CRITICAL, pool="tank"))
    d.submit(alert("PoolDegraded", AlertLevel.ERROR, pool="backup"))
    d.submit(alert("LoadHigh", AlertLevel.WARNING))
    assert d.tick(clock() + 30)
    while batch := svc.outbox.claim(100, 60.0):
        for item in batch:
            svc.worker.deliver(item)

    def names(texts: list[str]) -> set[str]:
        return {
            n for n in ("PoolFaulted", "PoolDegraded", "LoadHigh") if any(n in t for t in texts)
        }

    assert names([str(e.body) for e in vendors.received("pagerduty")]) == {"PoolFaulted"}
    assert names([str(s.body) for s in vendors.received("twilio")]) == {"PoolFaulted"}
    assert names([str(m.message["Subject"]) for m in smtp.messages]) == {
        "PoolFaulted", "PoolDegraded",
    }  # fmt: skip
    assert names([str(p.body) for p in vendors.received("slack")]) == {
        "PoolFaulted", "PoolDegraded", "LoadHigh",
    }  # fmt: skip
    assert names([str(p["json"]) for p in webhook.delivered()]) == {"PoolFaulted"}
    assert len(vendors.received("slack")) == 3 and len(smtp.messages) == 2
