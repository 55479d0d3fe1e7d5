"""What the dispatcher has done and sees, for GET /metrics (api/prometheus.py): notifications
it enqueued (or sent directly) per channel and kind since the agent started, and the alerts
per state and the groups as of its last tick. Kept in memory, updated by the tick: a scrape
reads them and never touches the database."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from appliance.alerting.dispatch.view import AlertView

#: An alert's state as the metrics count it (each alert in exactly one).
STATES = ("firing", "silenced", "inhibited", "acknowledged", "resolved")
#: Kinds of notification: a group's firing or resolved alerts, an escalation step, the
#: database-away alert (sent without the outbox) and its resolve.
KINDS = ("firing", "resolved", "escalation", "database_down")


def state_of(v: AlertView) -> str:
    if not v.alert.firing:
        return "resolved"
    if v.silenced_by:
        return "silenced"
    if v.inhibited:
        return "inhibited"
    return "acknowledged" if v.acked else "firing"


@dataclass
class DispatchStats:
    #: (channel, kind) → notifications since start.
    notifications: Counter[tuple[str, str]] = field(default_factory=Counter)
    #: State → alerts, as of the last good tick.
    alerts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STATES, 0))
    groups: int = 0
    ticks_failed: int = 0
    database_down: bool = False

    def seen(self, alert_views: Sequence[AlertView], groups: int) -> None:
        counts = dict.fromkeys(STATES, 0)
        for v in alert_views:
            counts[state_of(v)] += 1
        self.alerts, self.groups, self.database_down = counts, groups, False

    def notified(self, channels: Sequence[str], kind: str) -> None:
        for name in channels:
            self.notifications[(name, kind)] += 1
