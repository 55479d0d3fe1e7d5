"""A critical notification from the lab's agent reaches STAND-INS for PagerDuty and Twilio SMS
(tests/standins/vendors.py: not the vendors) through the real Apprise code, over HTTPS.

The stand-in runs in this test on the controller and the lab host reaches it as the vendors
(tests/lab/vendor_standins.py: its /etc/hosts and CA store, undone afterwards). The channels
`pager` and `sms` are the lab inventory's; their credentials are put into the host's Vault
with `sovereign vault put-secret`, from stdin."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.lab.conftest import Edge
from tests.lab.vendor_standins import put_vendor_secrets, restart_agent, standins_for
from tests.standins.vendors import VendorRequest, VendorStandIns


@pytest.fixture(scope="module")
def vendors(
    lab: str, edge: Edge, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[VendorStandIns]:
    with standins_for(lab, tmp_path_factory.mktemp("standin-ca")) as standins:
        put_vendor_secrets(lab, standins.credentials, {
            "agent/notify/pager": "pagerduty", "agent/notify/sms": "twilio",
        })  # fmt: skip
        restart_agent(lab, edge)  # no credentials cached from an earlier run
        yield standins


def notify(edge: Edge, channel: str, message: str) -> int:
    answer = httpx.post(
        f"{edge.url}/api/notifications/notify",
        json={"user_id": "oncall", "channel": channel, "severity": "critical",
              "subject": "Pool tank DEGRADED", "message": message},
        headers={"Authorization": f"Bearer {edge.admin_token}"}, verify=str(edge.ca_cert),
        timeout=10,
    )  # fmt: skip
    assert answer.status_code == 202, answer.text
    return int(answer.json()["id"])


def wait_for(
    standins: VendorStandIns, vendor: str, text: str, edge: Edge, nid: int
) -> VendorRequest:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for request in standins.received(vendor):
            if text in json.dumps(request.body):
                return request
        time.sleep(0.5)
    rows = edge.admin("/api/notifications?user_id=oncall&limit=20").json()["notifications"]
    pytest.fail(f"nothing reached the {vendor} stand-in: {[r for r in rows if r['id'] == nid]}")


def test_a_critical_notification_reaches_the_pagerduty_standin(
    vendors: VendorStandIns, edge: Edge
) -> None:
    nid = notify(edge, "pager", "tank lost a second disk (pagerduty stand-in)")
    event = wait_for(vendors, "pagerduty", "tank lost a second disk", edge, nid)
    body = event.body
    assert body["routing_key"] == vendors.credentials.pagerduty_routing_key
    assert body["event_action"] == "trigger" and body["payload"]["source"] == lab_host(edge)


def test_a_critical_notification_reaches_the_sms_standin(
    vendors: VendorStandIns, edge: Edge
) -> None:
    nid = notify(edge, "sms", "tank lost a second disk (sms stand-in)")
    sms = wait_for(vendors, "twilio", "tank lost a second disk", edge, nid)
    body = sms.body
    assert body["To"] == ["+15552223333"] and body["From"] == ["+15550001111"]


def lab_host(edge: Edge) -> str:
    """The source the lab inventory gives the pager channel: the host's name (`<lab>-1`)."""
    channels = edge.admin("/api/notifications/channels").json()["channels"]
    return str(next(c for c in channels if c["name"] == "pager")["options"]["source"])
