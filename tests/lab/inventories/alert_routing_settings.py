"""What the severity-routing inventory (alert_routing.py) sets, kept apart from it because that
module reads the lab's state when imported, and the test needs these names at collection."""

from __future__ import annotations

from typing import Any

from tests.lab.inventories.alert_drill_settings import HOOK_PATH, WEBHOOK_PORT

#: Vault secret → the kind of stand-in credentials it holds (tests/lab/vendor_standins.py);
#: `pager` and `sms` are the lab's own channels (sovereign.lab.inventory.lab_channels).
SECRETS = {
    "agent/notify/pager": "pagerduty",
    "agent/notify/sms": "twilio",
    "agent/notify/slack": "slack",
    "agent/notify/teams": "teams",
}


def routing_channels() -> list[dict[str, Any]]:
    return [
        {"name": "slack", "kind": "slack", "options": {}, "secret": "agent/notify/slack"},
        {"name": "teams", "kind": "teams", "options": {}, "secret": "agent/notify/teams"},
        {
            "name": "hook",
            "kind": "webhook",
            "options": {"url": f"http://127.0.0.1:{WEBHOOK_PORT}{HOOK_PATH}"},
        },
    ]


def agent_alerting() -> dict[str, Any]:
    """`agent.alerting`: the default severity tree and policies, on short timers."""
    return {"group_wait_s": 1.0, "group_interval_s": 2.0, "repeat_interval_s": 3600.0}
