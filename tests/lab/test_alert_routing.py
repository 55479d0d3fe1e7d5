"""Issue 13's first done-when on a deployed lab host: the seed's severity routing, each
severity at exactly its receivers. CRITICAL reaches the PagerDuty- and SMS-compatible
stand-ins AND every other channel (email in postfix's Maildir, the webhook, Slack, Teams);
ERROR only email and Slack; WARNING only Slack.

The alerts come the spec's two ways: its `curl` (POST /api/alerts "High CPU Usage", warning,
service data-processing), through the edge with a token, fired by a busy `data-processing`
unit; and its `send_alert(...)` example, run on the host by the agent's Python (as the agent's
user, over the agent's configuration and database: the alert is stored and the agent's
dispatcher sends it), for CRITICAL and ERROR. The routing is the DEFAULT tree
(tests/lab/inventories/alert_routing.py: six channels, short timers). Slack, Teams,
PagerDuty and Twilio are STAND-INS (tests/standins/vendors.py, over HTTPS through the real
Apprise code; tests/lab/vendor_standins.py), email and webhook the host's Maildir and the
drills' receiver. Each alert's channels are read twice: what the dispatcher queued (the
notification history) and what each receiver got."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.lab.conftest import PROJECT_ROOT, ssh
from tests.lab.inventories.alert_routing_settings import SECRETS
from tests.lab.test_alert_drills import DrillLab, deploy_drill_lab
from tests.lab.vendor_standins import put_vendor_secrets, restart_agent, standins_for
from tests.standins.vendors import VendorStandIns

INVENTORY = str(PROJECT_ROOT / "tests" / "lab" / "inventories" / "alert_routing.py")
#: The spec's curl body, as written.
SPEC_RULE = {
    "name": "High CPU Usage", "description": "CPU usage above 90%", "severity": "warning",
    "service": "data-processing", "threshold": 90,
}  # fmt: skip
#: The rule's threshold on this 2-core machine shared by other work: a busy loop reads about
#: 50 % of the host (`cpu_percent`: 100 is every core), never the spec's 90 for sure.
BUSY_THRESHOLD = 5
BUSY_UNIT = "data-processing"
AGENT_PYTHON = "/opt/sovereign/agent/bin/python"
#: The six channels: receivers each notification could reach.
CHANNELS = ("pager", "sms", "email", "hook", "slack", "teams")
#: The stand-ins' vendor for each channel they stand in for.
VENDOR = {"pager": "pagerduty", "sms": "twilio", "slack": "slack", "teams": "teams"}
#: After the last expected receipt: time for any unexpected one to arrive (group interval
#: 2 s, the delivery worker's retries of a slow receiver).
SETTLE_S = 8.0

#: The spec's send_alert example, run by the agent's Python as the agent's user (stdin): outside
#: the agent's process, get_alert_manager() is bound to the agent's database (its config file),
#: and the running agent's dispatcher routes what it receives (appliance/alerting/host.py).
SEND_ALERT = """
import sys
from appliance.alerting.manager import AlertLevel, get_alert_manager

run = sys.argv[1]
alerter = get_alert_manager()
alerter.send_alert(
    message=f"CRITICAL: Primary Postgres Connection Failed [ECONNREFUSED] ({run})",
    level=AlertLevel.CRITICAL,
    channels=None,  # auto-selects PagerDuty + SMS
    context={"node": "worker-01", "retry_count": 5},
)
alerter.send_alert(
    message=f"ERROR: Nightly export to the backup host failed ({run})",
    level=AlertLevel.ERROR,
    context={"node": "worker-01"},
)
"""

#: What each severity's alert is recognised by in a notification, and where it must go.
CRITICAL = "Primary Postgres Connection Failed"
ERROR = "Nightly export to the backup host failed"
WARNING = "High CPU Usage"
EXPECTED = {
    CRITICAL: set(CHANNELS),
    ERROR: {"email", "slack"},
    WARNING: {"slack"},
}


@dataclass
class Routed:
    drill: DrillLab
    standins: VendorStandIns
    #: The host's time just before the alerts were raised.
    since: float
    #: Per alert: the channels its notifications were queued for (the history).
    queued: dict[str, set[str]]
    #: Per alert: the channels whose receiver got it.
    received: dict[str, set[str]]
    #: The enabled channels on the host (CRITICAL goes to every one).
    enabled: set[str]


def receivers(routed_lab: DrillLab, standins: VendorStandIns, since: float) -> dict[str, set[str]]:
    """Per alert: the channels (of the six) whose receiver got a notification naming it."""
    texts: dict[str, list[str]] = {c: [] for c in CHANNELS}
    for r in routed_lab.receipts():
        if r.at >= since and r.channel in ("email", "hook"):
            texts[r.channel].append(r.subject + r.text)
    for channel, vendor in VENDOR.items():
        texts[channel] = [json.dumps(request.body) for request in standins.received(vendor)]
    return {
        alert: {c for c, got in texts.items() if any(alert in t for t in got)} for alert in EXPECTED
    }


def queued(drill: DrillLab, since: float) -> dict[str, set[str]]:
    """Per alert: the channels the dispatcher queued its notifications for (any status)."""
    rows = drill.ok("GET", "/api/notifications?user_id=alerts&limit=200")["notifications"]
    return {
        alert: {
            r["channel"]
            for r in rows
            if r["created_at"] >= since and r["created_by"] == "alerting" and alert in r["message"]
        }
        for alert in EXPECTED
    }


def spec_rule(drill: DrillLab) -> str:
    """The spec's curl, as written, through the edge with a token: accepted, and `nodata`
    while no data-processing unit runs."""
    answer = drill.api("POST", "/api/alerts", SPEC_RULE)
    assert answer.status_code == 201, answer.text
    rule = answer.json()
    assert {k: rule[k] for k in SPEC_RULE} == SPEC_RULE
    assert rule["metric"] == "cpu_percent" and rule["condition"] == ">"
    return str(rule["id"])


@pytest.fixture(scope="module")
def routed(lab: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Routed]:
    drill = deploy_drill_lab(lab, INVENTORY)
    ssh(lab, f"systemctl stop {BUSY_UNIT} 2>/dev/null; systemctl reset-failed {BUSY_UNIT} "
             "2>/dev/null; true")  # fmt: skip
    with standins_for(lab, tmp_path_factory.mktemp("routing-ca")) as standins:
        put_vendor_secrets(lab, standins.credentials, SECRETS)
        restart_agent(lab, drill.edge)  # no credentials cached from an earlier run
        rule_id = spec_rule(drill)
        try:
            yield fire(drill, standins, rule_id)
        finally:
            ssh(lab, f"systemctl stop {BUSY_UNIT}", False)
            drill.retire(rule_id)


def fire(drill: DrillLab, standins: VendorStandIns, rule_id: str) -> Routed:
    """Raise the three alerts, wait until each expected receiver has its own, then a while
    longer for any that should not come."""
    since = drill.now()
    ssh(drill.name, f"systemd-run --unit={BUSY_UNIT} /usr/bin/python3 -c 'while True: pass'")
    drill.ok("PUT", f"/api/alerts/{rule_id}", {"threshold": BUSY_THRESHOLD})
    script = ssh(
        drill.name,
        f"cd / && runuser -u sovereign -- env APPLIANCE_CONFIG_FILE=/etc/sovereign/agent.toml "
        f"{AGENT_PYTHON} - {drill.run} <<'EOF'\n{SEND_ALERT}EOF",
        False,
    )
    assert script.returncode == 0, script.stderr[-2000:]
    started = time.monotonic()
    deadline = started + 90
    while (got := receivers(drill, standins, since)) != EXPECTED and time.monotonic() < deadline:
        if all(EXPECTED[a] <= got[a] for a in EXPECTED):
            break  # every expected one is there (and some that should not: asserted below)
        time.sleep(1.0)
    print(f"\nall expected receipts in {time.monotonic() - started:.1f} s")
    time.sleep(SETTLE_S)
    channels = drill.ok("GET", "/api/notifications/channels")["channels"]
    routed = Routed(
        drill,
        standins,
        since,
        queued(drill, since),
        receivers(drill, standins, since),
        {c["name"] for c in channels if c["enabled"]},
    )
    for alert in EXPECTED:
        print(f"{alert}: queued {sorted(routed.queued[alert])}, "
              f"received {sorted(routed.received[alert])}")  # fmt: skip
    return routed


def test_the_spec_curl_and_send_alert_examples_raise_firing_alerts(routed: Routed) -> None:
    active = routed.drill.active()
    names = {a["labels"]["alertname"]: a for a in active if a["status"] == "firing"}
    assert WARNING in names, sorted(names)
    assert names[WARNING]["labels"]["service"] == "data-processing"
    sent = [n for n in names if n.startswith("CRITICAL: " + CRITICAL) and routed.drill.run in n]
    assert len(sent) == 1, sorted(names)
    critical = names[sent[0]]
    assert critical["labels"]["severity"] == "critical"
    assert json.loads(critical["annotations"]["context"]) == {"node": "worker-01",
                                                              "retry_count": 5}  # fmt: skip


def test_critical_reaches_pagerduty_sms_and_every_other_channel(routed: Routed) -> None:
    assert routed.received[CRITICAL] == set(CHANNELS), routed.received
    assert routed.queued[CRITICAL] == routed.enabled, routed.queued  # "all": every channel
    page = next(
        r.body for r in routed.standins.received("pagerduty") if CRITICAL in json.dumps(r.body)
    )
    assert page["routing_key"] == routed.standins.credentials.pagerduty_routing_key
    assert page["event_action"] == "trigger"


def test_error_reaches_email_and_slack_only(routed: Routed) -> None:
    assert routed.received[ERROR] == {"email", "slack"}, routed.received
    assert routed.queued[ERROR] == {"email", "slack"}, routed.queued


def test_warning_reaches_slack_only(routed: Routed) -> None:
    assert routed.received[WARNING] == {"slack"}, routed.received
    assert routed.queued[WARNING] == {"slack"}, routed.queued
