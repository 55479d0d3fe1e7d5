"""The agent's own database away: alerting is blind then (rules, alert states and the
notification outbox all live in it), so the dispatcher says so itself.

Once its ticks have found the database unreachable for ``database_down_after_s``, it sends
an ``AgentDatabaseDown`` alert (severity error) straight through the channels (Apprise, no
outbox; at most once per outage) to the receivers the routing gives that alert, using the
channels and routing it read on its last good tick; when a tick succeeds again, the resolve
goes through the outbox like any notification (to the channels that took the alert) and the
outage is written into the alert history.

With ``outage_state_file`` set, the outage is kept on disk (outage_file.py) and read when
the dispatcher is made: an agent killed during the outage neither sends the alert again nor
forgets the resolve it owes, and one restarted while the database is still away counts from
the outage's start and sends with the channels recorded then. Without the file (or one never
written) a database away since the agent's start leaves no channels to send with: the
journal and ``GET /health`` say it.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from appliance.alerting.dispatch.notifier import Notifier, Sent
from appliance.alerting.dispatch.outage_file import (
    OutageRecord,
    read_record,
    remove_record,
    write_record,
)
from appliance.alerting.dispatch.routing import match, resolve_receivers
from appliance.alerting.dispatch.settings import RoutingSettings
from appliance.alerting.dispatch.view import iso
from appliance.alerting.history import history_row
from appliance.alerting.models import AlertLevel, AlertStatus, fingerprint
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
#: Writes alert history rows (AlertManager.record: the evaluator's store, time order kept).
History = Callable[[Sequence[dict[str, Any]]], object]


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


def history_rows(since: float, told_at: float, sent_to: Sequence[str]) -> list[dict[str, Any]]:
    """The outage in the alert history, written once the database is back: firing, then
    resolved (each stamped with the time it is written; the annotations say when)."""
    notes = {**message_data(since, resolved=False), "told_at": iso(told_at),
             "sent_to": ",".join(sent_to)}  # fmt: skip
    fp = fingerprint(LABELS)
    firing = history_row(since, None, AlertStatus.INACTIVE, AlertStatus.FIRING,
                         AlertLevel.ERROR, LABELS, notes, None, fp)  # fmt: skip
    resolved = history_row(since, None, AlertStatus.FIRING, AlertStatus.RESOLVED,
                           AlertLevel.ERROR, LABELS, notes, None, fp)  # fmt: skip
    return [firing, resolved]


@dataclass
class OutageAlert:
    """AgentDatabaseDown through one outage after another (durable with a ``path``)."""

    watch: DatabaseWatch
    path: Path | None = None
    #: The channels that took the alert (its resolve goes to these).
    sent_to: tuple[str, ...] = ()
    #: The routing and channels of the last good tick (what the alert can use).
    seen: tuple[RoutingSettings, list[Channel]] | None = None

    @classmethod
    def open(cls, after_s: float, path: Path | None) -> OutageAlert:
        """A fresh watch, or the outage the file at ``path`` records."""
        record = None if path is None else read_record(path)
        if record is None:
            return cls(DatabaseWatch(after_s), path)
        watch = DatabaseWatch(after_s, record.down_since, record.told_at)
        seen = None if record.routing is None else (record.routing, list(record.channels))
        told = "told" if record.told_at else "not told yet"
        log.warning(
            "the agent's database away since %s (%s): resuming that outage",
            iso(record.down_since),
            told,
        )
        return cls(watch, path, record.sent_to, seen)

    def _save(self) -> None:
        if self.path is None or self.watch.down_since is None:
            return
        routing, channels = self.seen if self.seen is not None else (None, [])
        write_record(self.path, OutageRecord(self.watch.down_since, self.watch.told_at,
                                             self.sent_to, routing, tuple(channels)))  # fmt: skip

    def away(self, now: float, credentials: Credentials, send: Send, timeout_s: float) -> list[str]:
        """A tick found the database away: the alert once it is due (blocking)."""
        began = self.watch.down_since is None
        due = self.watch.failed(now)
        if not due:
            if began:
                self._save()  # the outage's start, and what to send with
            return []
        self.watch.told(now)
        if self.seen is None:
            log.error("the agent's database is unreachable and no channel was ever read")
            self._save()
            return []
        routing, channels = self.seen
        since = self.watch.down_since or now
        self.sent_to = tuple(tell(since, routing, channels, credentials, send, timeout_s))
        self._save()
        return list(self.sent_to)

    def back(self, notifier: Notifier, history: History) -> Sent | None:
        """A tick succeeded: the resolve owed (through the outbox) and the outage into the
        history, then the record goes (raises the store's error when it is away again)."""
        since, told_at = self.watch.down_since, self.watch.told_at
        if since is None:
            return None
        sent = None
        if told_at is not None:  # an outage long enough to be an alert
            if self.sent_to and self.seen is not None:
                tuples = [(c.name, c.kind, c.enabled) for c in self.seen[1]]
                data = message_data(since, resolved=True)
                key = f"dbdown:{since!r}"
                sent = notifier.notify(key, self.sent_to, tuples, "alert_resolved", data)
            history(history_rows(since, told_at, self.sent_to))
        self.watch.clear()
        self.sent_to = ()
        if self.path is not None:
            remove_record(self.path)
        return sent
