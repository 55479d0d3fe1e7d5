"""The lab for the severity-routing test (tests/lab/test_alert_routing.py): the lab's own
channels (`email` through the host's postfix Maildir, `pager` PagerDuty, `sms` Twilio) plus
`slack`, `teams` and a webhook `hook` (the drills' receiver on the host) — one channel of each
kind the seed's severity routing names. The routing is the DEFAULT tree (no `route` given),
only its timers shortened (group wait 1 s, interval 2 s) and the agent on the drills' short
timers, so each severity is at its receivers within seconds.

Imported only when the test deploys: importing it reads the lab's state."""

from sovereign.lab.inventory import SYSTEM_CA_BUNDLE, lab_channels, lab_hosts
from tests.lab.inventories.alert_drill_settings import agent_config
from tests.lab.inventories.alert_routing_settings import agent_alerting, routing_channels

lab = [
    (
        name,
        {
            **data,
            "agent": {
                "notifications": {"channels": [*lab_channels(name), *routing_channels()]},
                "config": agent_config(SYSTEM_CA_BUNDLE),
                "alerting": agent_alerting(),
            },
        },
    )
    for name, data in lab_hosts()
]
