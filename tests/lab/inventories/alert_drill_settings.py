"""What the alerting drills' inventory (alert_drills.py) sets, kept apart from it because that
module reads the lab's state when imported, and the drills need these names at collection."""

from __future__ import annotations

from typing import Any

#: The drills' webhook receiver, run on the lab host itself (loopback: no firewall between).
WEBHOOK_PORT = 9099
HOOK_PATH = "/hook"
ONCALL_PATH = "/oncall"
#: How long an unacknowledged drill alert waits for each escalation step (0.2 min = 12 s).
ESCALATION_STEPS_MIN = (0.2, 0.6)
#: The kill -9 drill's route: a resolve is sent at most this long after the last notification,
#: so it is still owed when the agent is killed right after the alert resolves.
KILL9_GROUP_INTERVAL_S = 20.0
REPEAT_INTERVAL_S = 3600.0
#: The agent's database unreachable this long: AgentDatabaseDown goes out directly.
DATABASE_DOWN_AFTER_S = 5.0
#: Where the agent keeps an outage of its database (a restart during it resumes it).
OUTAGE_STATE_FILE = "/var/lib/sovereign/alert-outage.json"


def webhook_channels() -> list[dict[str, Any]]:
    return [
        {
            "name": name,
            "kind": "webhook",
            "options": {"url": f"http://127.0.0.1:{WEBHOOK_PORT}{path}"},
        }
        for name, path in (("hook", HOOK_PATH), ("oncall", ONCALL_PATH))
    ]


def agent_config(ca_bundle: str) -> dict[str, Any]:
    return {
        "notifications": {"ca_bundle": ca_bundle},
        "health_interval_s": 2.0,
        "storage_cache_ttl_s": 1.0,
        "alerting": {
            "evaluation": {"interval_s": 2.0},
            "dispatch": {
                "tick_s": 0.5,
                "database_down_after_s": DATABASE_DOWN_AFTER_S,
                "outage_state_file": OUTAGE_STATE_FILE,
            },
        },
    }


def agent_alerting() -> dict[str, Any]:
    """`agent.alerting` (RoutingSettings): every alert to email and `hook`, one per group."""
    return {
        "route": {
            "receivers": ["email", "hook"],
            "group_by": ["..."],
            "routes": [
                {"matchers": ["drill=kill9"], "group_interval_s": KILL9_GROUP_INTERVAL_S},
            ],
        },
        "inhibit_rules": [
            {
                "source_matchers": ["alertname=PoolFaulted"],
                "target_matchers": ["alertname=~DatasetQuota|PoolCapacity"],
                "equal": ["pool"],
            },
            {
                "source_matchers": ["alertname=DrillInhibitor"],
                "target_matchers": ["alertname=DrillInhibited"],
                "equal": ["drill"],
            },
        ],
        "escalation_policies": [
            {
                "name": "drill",
                "matchers": ["drill=escalation"],
                "steps": [
                    {"after_minutes": m, "receivers": ["oncall"]} for m in ESCALATION_STEPS_MIN
                ],
            }
        ],
        "group_wait_s": 1.0,
        "group_interval_s": 2.0,
        "repeat_interval_s": REPEAT_INTERVAL_S,
    }
