"""A critical notification from the lab's agent reaches STAND-INS for PagerDuty and Twilio SMS
(tests/standins/vendors.py: not the vendors) through the real Apprise code, over HTTPS.

The stand-in runs in this test on the controller, on the lab bridge's address, port 443. The
lab host is made to reach it as the vendors, for this test only: its /etc/hosts sends
events.pagerduty.com and api.twilio.com there and its system store trusts the stand-in's test
CA (the lab inventory has the agent's channels trust that store: `[notifications] ca_bundle`);
both are undone afterwards. The channels `pager` and `sms` are the lab inventory's; their
credentials are put into the host's Vault with `sovereign vault put-secret`, from stdin."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.lab.conftest import Edge, put_secret, ssh
from tests.standins.tls import TestCA
from tests.standins.vendors import PAGERDUTY_HOSTS, TWILIO_HOST, VendorRequest, VendorStandIns

MARK = "# sovereign-standin (tests/lab/test_notify_vendors.py)"
CA_FILE = "/usr/local/share/ca-certificates/sovereign-standin-test-ca.crt"


def restart_agent(lab: str, edge: Edge) -> None:
    ssh(lab, "systemctl daemon-reload && systemctl restart sovereign-agent.service")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if edge.get("/health").status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    pytest.fail("the agent did not come back after its restart")


@pytest.fixture(scope="module")
def vendors(
    lab: str, edge: Edge, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[VendorStandIns]:
    gateway = ssh(lab, "ip -4 route show default | awk '{print $3; exit}'").stdout.strip()
    ca = TestCA(tmp_path_factory.mktemp("standin-ca"))
    standins = VendorStandIns(ca, bind=(gateway, 443)).start()
    names = " ".join([*PAGERDUTY_HOSTS, TWILIO_HOST])
    ssh(lab, f"cat > {CA_FILE} <<'EOF'\n{ca.ca_file.read_text()}EOF\nupdate-ca-certificates")
    ssh(lab, f"echo '{gateway} {names} {MARK}' >> /etc/hosts")
    creds = standins.credentials
    put_secret(lab, "agent/notify/pager", {
        "integration_key": creds.pagerduty_routing_key, "api_key": creds.pagerduty_api_key,
    })  # fmt: skip
    put_secret(lab, "agent/notify/sms", {
        "account_sid": creds.twilio_sid, "auth_token": creds.twilio_token,
    })  # fmt: skip
    restart_agent(lab, edge)  # no credentials cached from an earlier run
    try:
        yield standins
    finally:
        ssh(lab, f"rm -f {CA_FILE} && update-ca-certificates --fresh >/dev/null", False)
        ssh(lab, "sed -i '/sovereign-standin/d' /etc/hosts", False)
        standins.close()


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
