"""Slack, Teams, PagerDuty and Twilio channels through the real Apprise code to STAND-INS for
those vendors (tests/standins/vendors.py; not the vendors), over HTTPS with certificates for the
vendors' host names issued by a test CA.

Apprise posts to the vendors' own URLs; this test resolves those names to the stand-in
(tests/standins/resolver.py, this process only) and has requests trust the test CA through
REQUESTS_CA_BUNDLE (channels.trust, what ``[notifications] ca_bundle`` does in the agent), as
the lab host does with its system bundle."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance.notifications.channels import Delivery, send, trust
from appliance.notifications.delivery import DeliveryWorker
from appliance.notifications.models import Channel, NotifyRequest, Status
from appliance.notifications.outbox import Outbox, Planned
from appliance.notifications.settings import NotificationSettings
from appliance.secrets import SecretManager
from appliance.secrets.env import EnvBackend, variable_name
from tests.standins.resolver import resolve_to
from tests.standins.tls import TestCA
from tests.standins.vendors import PAGERDUTY_HOSTS, SLACK_HOST, TEAMS_HOST, VendorStandIns
from tests.unit.conftest import AgentDatabase
from tests.unit.notifications.conftest import Clock


@pytest.fixture
def vendors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[VendorStandIns]:
    ca = TestCA(tmp_path / "ca")
    standins = VendorStandIns(ca).start()
    for name in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"):
        monkeypatch.setenv(name, "")  # restored after the test; trust() sets both
    trust(ca.ca_file)  # what [notifications] ca_bundle does in the agent
    with resolve_to(standins.resolver_table()):
        yield standins
    standins.close()


def delivery(text: str = "Pool tank is DEGRADED", to: str | None = None) -> Delivery:
    return Delivery(notification_id=41, subject="Storage alert", text=text, recipient=to)


def test_slack_standin_gets_the_webhook_post_apprise_makes(vendors: VendorStandIns) -> None:
    creds = vendors.credentials
    channel = Channel("chat", "slack", {"channel": "#ops"}, secret="agent/notify/chat")
    result = send(channel, {"url": creds.slack_url}, delivery())
    assert result.ok, result.error
    (post,) = vendors.received("slack")
    assert post.host == SLACK_HOST and post.path == f"/services/{creds.slack_path}"
    assert post.body["channel"] == "#ops"
    assert "Pool tank is DEGRADED" in str(post.body) and "Storage alert" in str(post.body)


def test_slack_standin_refuses_an_unknown_webhook_and_the_send_fails(
    vendors: VendorStandIns,
) -> None:
    channel = Channel("chat", "slack", {}, secret="agent/notify/chat")
    wrong = f"https://{SLACK_HOST}/services/TAAAA/BBBBB/wrongtoken123"
    result = send(channel, {"url": wrong}, delivery())
    assert not result.ok and result.error
    assert "wrongtoken123" not in result.error  # the credential never comes back in errors
    assert vendors.received("slack") == []


def test_teams_standin_gets_the_workflow_webhook_post(vendors: VendorStandIns) -> None:
    creds = vendors.credentials
    channel = Channel("teams", "teams", {}, secret="agent/notify/teams")
    result = send(channel, {"url": creds.teams_url}, delivery())
    assert result.ok, result.error
    (post,) = vendors.received("teams")
    assert post.host == TEAMS_HOST
    assert post.query["sig"] == [creds.teams_sig] and post.query["sv"] == ["1.0"]
    assert post.body["type"] == "message"
    assert "Pool tank is DEGRADED" in str(post.body["attachments"])


@pytest.mark.parametrize(
    ("region", "host"), [("us", PAGERDUTY_HOSTS[0]), ("eu", PAGERDUTY_HOSTS[1])]
)
def test_pagerduty_standin_gets_an_events_v2_trigger(
    vendors: VendorStandIns, region: str, host: str
) -> None:
    creds = vendors.credentials
    channel = Channel(
        "pager", "pagerduty", {"region": region, "source": "appliance-1"}, secret="agent/pd"
    )
    keys = {"integration_key": creds.pagerduty_routing_key, "api_key": creds.pagerduty_api_key}
    result = send(channel, keys, delivery())
    assert result.ok, result.error
    (event,) = vendors.received("pagerduty")
    assert event.host == host and event.path == "/v2/enqueue"
    assert event.body["routing_key"] == creds.pagerduty_routing_key
    assert event.body["event_action"] == "trigger"
    assert event.body["payload"]["source"] == "appliance-1"
    assert "Pool tank is DEGRADED" in event.body["payload"]["summary"]


def test_pagerduty_standin_refuses_a_wrong_routing_key(vendors: VendorStandIns) -> None:
    channel = Channel("pager", "pagerduty", {}, secret="agent/pd")
    keys = {"integration_key": "0" * 32, "api_key": vendors.credentials.pagerduty_api_key}
    result = send(channel, keys, delivery())
    assert not result.ok
    assert vendors.received("pagerduty") == []


def test_twilio_standin_gets_the_sms_form_with_basic_auth(vendors: VendorStandIns) -> None:
    creds = vendors.credentials
    channel = Channel("sms", "twilio", {"from": "+15550001111"}, secret="agent/sms")
    keys = {"account_sid": creds.twilio_sid, "auth_token": creds.twilio_token}
    result = send(channel, keys, delivery("Pool tank is DEGRADED", to="+15552223333"))
    assert result.ok, result.error
    (sms,) = vendors.received("twilio")
    assert sms.path == f"/2010-04-01/Accounts/{creds.twilio_sid}/Messages.json"
    assert sms.body["From"] == ["+15550001111"] and sms.body["To"] == ["+15552223333"]
    assert "Pool tank is DEGRADED" in sms.body["Body"][0]


def test_twilio_standin_refuses_a_wrong_token_and_the_error_hides_it(
    vendors: VendorStandIns,
) -> None:
    creds = vendors.credentials
    channel = Channel("sms", "twilio", {"from": "+15550001111", "to": "+15552223333"}, "agent/s")
    wrong = "f" * 32
    result = send(channel, {"account_sid": creds.twilio_sid, "auth_token": wrong}, delivery())
    assert not result.ok and result.error
    assert wrong not in result.error
    assert vendors.received("twilio") == []


def test_the_stand_ins_are_unreachable_without_the_test_ca(
    vendors: VendorStandIns, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stand-in is trusted only through the test CA: with certifi's bundle the TLS
    handshake fails, so nothing here can pass by skipping certificate checks."""
    monkeypatch.delenv("REQUESTS_CA_BUNDLE")
    channel = Channel("chat", "slack", {}, secret="agent/notify/chat")
    result = send(channel, {"url": vendors.credentials.slack_url}, delivery())
    assert not result.ok
    assert vendors.requests == []


def test_critical_notification_reaches_pagerduty_and_sms_standins_through_the_worker(
    agent_db: AgentDatabase, vendors: VendorStandIns
) -> None:
    """The worker reads each channel's credentials from the secrets backend by the name the
    channel gives, and delivers one notification row per channel."""
    creds = vendors.credentials
    env = {
        variable_name("agent/notify/pager", "integration_key"): creds.pagerduty_routing_key,
        variable_name("agent/notify/pager", "api_key"): creds.pagerduty_api_key,
        variable_name("agent/notify/sms", "account_sid"): creds.twilio_sid,
        variable_name("agent/notify/sms", "auth_token"): creds.twilio_token,
    }
    clock = Clock()
    outbox = Outbox(agent_db.store(), clock)
    secrets = SecretManager(EnvBackend(environ=lambda: env), 300.0)
    worker = DeliveryWorker(outbox, secrets, NotificationSettings(), clock=clock)
    outbox.put_channel(Channel("pager", "pagerduty", {}, "agent/notify/pager"), create=True)
    outbox.put_channel(
        Channel("sms", "twilio", {"from": "+15550001111", "to": "+15552223333"},
                "agent/notify/sms"),
        create=True,
    )  # fmt: skip
    request = NotifyRequest(user_id="ops", subject="Pool DEGRADED", message="tank lost a disk")
    result = outbox.notify(request, [Planned("pager", None), Planned("sms", None)], created_by="t")
    for item in outbox.claim(10, 60.0):
        worker.deliver(item)
    for nid in result.ids:
        got = outbox.get(nid)
        assert got is not None and got.status is Status.DELIVERED, got
    assert len(vendors.received("pagerduty")) == 1 and len(vendors.received("twilio")) == 1
