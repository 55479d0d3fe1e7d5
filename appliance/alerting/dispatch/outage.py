"""The agent's own database away: alerting is blind then (rules, alert states and the
notification outbox all live in it), so the dispatcher says so itself.

Once its ticks have found the database unreachable for ``database_down_after_s``, it sends
an ``AgentDatabaseDown`` alert (severity error) straight through the channels (Apprise, no
outbox: not durable, at most once per outage in this process) to the receivers the routing
gives that alert, using the channels and routing it read on its last good tick; when a tick
succeeds again, the resolve goes through the outbox like any notification. A database that
is away from the agent's start has no channels to read: nothing can be sent then (the
journal and ``GET /health`` say it).
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from appliance.alerting.dispatch.routing import match, resolve_receivers
from appliance.alerting.dispatch.settings import RoutingSettings
from appliance.alerting.dispatch.view import iso
from appliance.notifications.channels import Delivery, SendResult
from appliance.notifications.models import Channel
from appliance.notifications.templates import PREDEFINED, render

log = logging.getLogger(__name__)

ALERTNAME = "AgentDatabaseDown"
SEVERITY = "error"
LABELS = {"alertname": ALERTNAME, "severity": SEVERITY, "service": "agent-database"}
SUMMARY = (
    "[{state}] " + ALERTNAME + " (service=agent-database): the agent's database is "
    "unreachable, so alert rules are not evaluated and notifications are not queued "
    "until it is back"
)

#: ``send(channel, credentials, delivery, timeout_s)`` (appliance.notifications.channels.send).
Send = Callable[[Channel, dict[str, str], Delivery, float], SendResult]
Credentials = Callable[[Channel], dict[str, str]]


@dataclass
class DatabaseWatch:
    """When the database went away, and whether the alert went out (pure state)."""

    after_s: float
    down_since: float | None = None
    told_at: float | None = None

    def failed(self, now: float) -> bool:
        """A tick found the database away; True when the alert is due now (once)."""
        if self.down_since is None:
            self.down_since = now
        return self.told_at is None and now - self.down_since >= self.after_s

    def told(self, now: float) -> None:
        self.told_at = now

    def owed(self) -> float | None:
        """The outage's start, if its alert went out (its resolve is owed once it is back)."""
        return self.down_since if self.told_at is not None else None

    def clear(self) -> None:
        """Back, and nothing owed (any resolve is queued)."""
        self.down_since = self.told_at = None


def receivers(routing: RoutingSettings, channels: Sequence[Channel]) -> list[str]:
    """The channel names the routing sends AgentDatabaseDown to."""
    routes = match(routing.route, LABELS, routing.timers)
    wanted = [r for route in routes for r in route.receivers]
    return resolve_receivers(wanted, [(c.name, c.kind, c.enabled) for c in channels])


def message_data(since: float, resolved: bool) -> dict[str, str]:
    """The alert_firing / alert_resolved templates' variables."""
    return {
        "alert": ALERTNAME,
        "host": socket.gethostname(),
        "since": iso(since),
        "severity": SEVERITY,
        "summary": SUMMARY.format(state="RESOLVED" if resolved else "FIRING"),
    }


def tell(
    since: float,
    routing: RoutingSettings,
    channels: Sequence[Channel],
    credentials: Credentials,
    send: Send,
    timeout_s: float,
) -> list[str]:
    """Send the firing alert to each channel directly; returns those that took it. Blocking
    (a worker thread); a channel's failure is logged and the others are still tried."""
    data = message_data(since, resolved=False)
    by_name = {c.name: c for c in channels}
    took = []
    for name in receivers(routing, channels):
        channel = by_name[name]
        try:
            r = render(PREDEFINED["alert_firing"], channel.kind, data)
            result = send(
                channel,
                credentials(channel),
                Delivery(0, r.subject, r.text, None, r.html, r.markdown),
                timeout_s,
            )
        except Exception as exc:  # credentials away too (Vault), a template error...
            log.error("%s not sent to %s: %s", ALERTNAME, name, type(exc).__name__)
            continue
        if result.ok:
            took.append(name)
        else:
            log.error("%s not sent to %s: %s", ALERTNAME, name, result.error)
    log.error("the agent's database is unreachable: %s sent directly to %s", ALERTNAME, took)
    return took
