"""The lab for the alerting drills (tests/lab/test_alert_drills*.py): the agent on short
timers (health every 2 s, rules every 2 s, group wait 1 s, group interval 2 s, the dispatch
tick 0.5 s), so each drill takes seconds; channels `email` (the host's postfix Maildir) and
two webhooks on a receiver the drills run on the host itself (`hook`, `oncall`); a routing
tree that sends everything to email and `hook`, one alert per group, with a slower route
for the kill -9 drill (its resolve must still be owed when the agent dies), an inhibit rule
and an escalation policy of the drills' own.

Imported only when the drills deploy: importing it reads the lab's state."""

from sovereign.lab.inventory import SYSTEM_CA_BUNDLE, lab_email_channel, lab_hosts
from tests.lab.inventories.alert_drill_settings import (
    agent_alerting,
    agent_config,
    webhook_channels,
)

lab = [
    (
        name,
        {
            **data,
            "agent": {
                "notifications": {"channels": [lab_email_channel(name), *webhook_channels()]},
                "config": agent_config(SYSTEM_CA_BUNDLE),
                "alerting": agent_alerting(),
            },
        },
    )
    for name, data in lab_hosts()
]
