"""The dispatcher: the AlertSink evaluation submits to, and the loop that sends due groups.

``submit`` writes the alert to the database before it returns. ``tick`` reads everything
back (alerts, groups, silences), decides with the pure modules what is due, enqueues it
through the NotificationService and then records it in the group. Each notification's
idempotency key is the group's key, its sequence number and a digest of what it names: a
crash between the enqueue and the record makes the next tick enqueue the same key, which the
outbox answers with the rows it already has, so nothing is sent twice (the key holds the
group's start, so a group that ends and begins again is told again); and since every
decision is made from stored state, a restart neither repeats early nor forgets a resolve.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from appliance.alerting.dispatch.escalation import Escalate, escalation
from appliance.alerting.dispatch.grouping import GroupState, after, decide, finished, first_seen
from appliance.alerting.dispatch.notifier import CREATED_BY, Notifier, Sent
from appliance.alerting.dispatch.outage import Credentials, History, OutageAlert, Send
from appliance.alerting.dispatch.override import in_force, stored_value
from appliance.alerting.dispatch.settings import DispatchSettings, RoutingSettings
from appliance.alerting.dispatch.silences import Silence
from appliance.alerting.dispatch.stats import DispatchStats
from appliance.alerting.dispatch.store import DispatchStore
from appliance.alerting.dispatch.view import (
    AlertView,
    Group,
    groups,
    iso,
    message_data,
    timed_out,
    views,
)
from appliance.alerting.manager import get_alert_manager
from appliance.alerting.models import Alert, AlertStatus
from appliance.database.errors import DatabaseUnavailable, StoreError
from appliance.notifications.channels import send as apprise_send
from appliance.notifications.service import NotificationService

__all__ = ["CREATED_BY", "Dispatcher", "Sent"]

log = logging.getLogger(__name__)


@dataclass
class Dispatcher:
    store: DispatchStore
    notifications: NotificationService
    settings: DispatchSettings = field(default_factory=DispatchSettings)
    #: The configured routing (routing as code); an admin may replace it through the API.
    configured: RoutingSettings = field(default_factory=RoutingSettings)
    clock: Callable[[], float] = time.time
    #: A channel's credentials (default: the delivery worker's, from the SecretManager) and
    #: the sender, for the one alert sent without the outbox: the database away.
    credentials: Credentials | None = None
    send: Send = apprise_send
    #: Where the outage goes into the alert history (default: the agent's AlertManager).
    history: History | None = None
    _task: asyncio.Task[None] | None = field(default=None, init=False, repr=False)
    _wake: asyncio.Event | None = field(default=None, init=False, repr=False)
    _loop: asyncio.AbstractEventLoop | None = field(default=None, init=False, repr=False)
    #: The database away (outage.py; read from ``outage_state_file`` when there is one).
    outage: OutageAlert = field(init=False, repr=False)
    #: For GET /metrics.
    stats: DispatchStats = field(default_factory=DispatchStats, init=False)
    _notifier: Notifier = field(init=False, repr=False)

    def __post_init__(self) -> None:
        s = self.settings
        self.outage = OutageAlert.open(s.database_down_after_s, s.outage_state_file)
        self._notifier = Notifier(self.notifications, s.user_id, self.stats)

    # AlertSink ------------------------------------------------------------------------------

    def submit(self, alert: Alert) -> None:
        """Durable when it returns. Only firing and resolved matter here (pending, inactive
        and nodata are the evaluator's business)."""
        if alert.status not in (AlertStatus.FIRING, AlertStatus.RESOLVED):
            return
        if self.store.upsert(alert, self.clock()):
            self.wake()

    # Routing --------------------------------------------------------------------------------

    def routing(self) -> RoutingSettings:
        return self.routing_in_force()[0]

    def routing_in_force(self) -> tuple[RoutingSettings, bool]:
        """The routing in force and whether it was set through the API (override.py)."""
        return in_force(self.configured, self.store.routing_override())

    def set_routing(self, routing: RoutingSettings | None) -> None:
        """Replace the routing (None: back to the configured one)."""
        self.store.set_routing_override(stored_value(self.configured, routing), self.clock())
        self.wake()

    # What is going on -----------------------------------------------------------------------

    def view(self, now: float | None = None) -> list[AlertView]:
        now = self.clock() if now is None else now
        return views(self.store.alerts(), self.store.silences(), self.routing(), now)

    # The tick -------------------------------------------------------------------------------

    def tick(self, now: float | None = None) -> list[Sent]:
        """Send what is due now; returns what was enqueued."""
        now = self.clock() if now is None else now
        routing = self.routing()
        silences = self.store.silences()
        alerts = self.store.alerts()
        stale = timed_out(alerts, self.settings.resolve_timeout_s, now)
        for resolve in stale:
            self.store.upsert(resolve, now)
        alert_views = views(self.store.alerts() if stale else alerts, silences, routing, now)
        states = self.store.groups()
        configured = self.notifications.outbox.channels()
        self.outage.seen = (routing, configured)
        channels = [(c.name, c.kind, c.enabled) for c in configured]
        sent: list[Sent] = []
        live = groups(alert_views)
        for key, group in live.items():
            members = [v.member() for v in group.members]
            stored = states.get(key)
            state = stored or GroupState(key, first_seen(members, None, now), None, frozenset(), 0)
            if finished(members, state):
                if stored is not None:
                    self.store.drop_groups([key])
                continue
            flush = decide(members, state, group.route.timers, now)
            if flush is None:
                continue
            if flush.sends:
                sent.append(self._send_group(group, flush.firing, flush.resolved, state, channels))
            self.store.save_group(after(state, flush, now))
        self.store.drop_groups([k for k in states if k not in live])
        self.stats.seen(alert_views, len(live))
        for v in alert_views:
            sent.extend(self._escalate(v, routing, channels, now))
        self._prune(alert_views, states, silences, now)
        return sent

    def _prune(
        self,
        alert_views: Sequence[AlertView],
        states: dict[str, GroupState],
        silences: Sequence[Silence],
        now: float,
    ) -> None:
        """Forget long-resolved alerts (never one whose resolve is still owed) and silences
        long expired; the database is written only when there is something to forget."""
        before = now - self.settings.resolved_retention_s
        if any(s.ends_at < before for s in silences):
            self.store.prune_silences(before)
        old = [
            v.alert.fingerprint
            for v in alert_views
            if not v.alert.firing and (v.alert.ends_at or now) < before
        ]
        if old:
            owed = {fp for s in states.values() for fp in s.last_firing}
            self.store.prune_resolved(before, sorted(owed))

    def _send_group(
        self,
        group: Group,
        firing: Sequence[str],
        resolved: Sequence[str],
        state: GroupState,
        channels: Sequence[tuple[str, str, bool]],
    ) -> Sent:
        by_fp = {v.alert.fingerprint: v.alert for v in group.members}
        data = message_data(group.labels, [by_fp[f] for f in firing], [by_fp[f] for f in resolved])
        digest = hashlib.sha256(f"{','.join(firing)}|{','.join(resolved)}".encode()).hexdigest()
        # The group's start too: a group that ended and began again (the same alert firing
        # again) counts from 1 again, and must not collide with its earlier notifications.
        key = f"alert:{group.key}:{state.first_seen_at!r}:{state.seq + 1}:{digest[:16]}"
        template = "alert_firing" if firing else "alert_resolved"
        return self._notifier.notify(
            key, group.route.receivers, channels, template, data, firing, resolved
        )

    def _escalate(
        self,
        v: AlertView,
        routing: RoutingSettings,
        channels: Sequence[tuple[str, str, bool]],
        now: float,
    ) -> list[Sent]:
        a = v.alert
        step: Escalate | None = escalation(
            a.labels,
            received_at=a.received_at,
            steps_done=a.escalation_step,
            firing=a.firing,
            acked=v.acked,
            suppressed=v.suppressed,
            policies=routing.escalation_policies,
            now=now,
        )
        if step is None:
            return []
        data = message_data({}, [a], [])
        data["alert"] = f"{data['alert']} (escalated: {step.policy} step {step.step})"
        data["summary"] += f"\nUnacknowledged since {iso(a.received_at)}."
        key = f"escalate:{a.fingerprint}:{a.received_at!r}:{step.policy}:{step.step}"
        sent = self._notifier.notify(
            key, step.receivers, channels, "alert_firing", data, [a.fingerprint]
        )
        self.store.escalated(a.fingerprint, step.step)
        return [sent]

    # The database away ----------------------------------------------------------------------

    def database_away(self, now: float | None = None) -> list[str]:
        """A tick found the database unreachable: once that has lasted long enough, send
        AgentDatabaseDown directly (blocking). Returns the channels that took it."""
        now = self.clock() if now is None else now
        credentials = self.credentials or self.notifications.worker.credentials
        timeout_s = self.notifications.settings.send_timeout_s
        took = self.outage.away(now, credentials, self.send, timeout_s)
        self.stats.notified(took, "database_down")
        return took

    def database_back(self) -> Sent | None:
        """A tick succeeded: the resolve of an outage alert that went out, through the outbox,
        and the outage into the history (raises StoreError when the database is away again:
        still owed)."""
        return self.outage.back(self._notifier, self.history or get_alert_manager().record)

    # Acknowledgement ------------------------------------------------------------------------

    def ack(self, fingerprints: Sequence[str], by: str) -> list[str]:
        return self.store.ack(fingerprints, by, self.clock())

    # The loop -------------------------------------------------------------------------------

    def wake(self) -> None:
        """Tick soon (thread-safe: submit runs in the evaluator's or a request's thread)."""
        if self._loop is not None and self._wake is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._task = asyncio.create_task(self._run(), name="alert-dispatch")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._loop = None

    async def _run(self) -> None:
        assert self._wake is not None
        while True:
            self._wake.clear()
            try:
                await asyncio.to_thread(self.tick)
                await asyncio.to_thread(self.database_back)
            except DatabaseUnavailable as exc:
                log.error("alert dispatch tick failed, trying again: %s", exc)
                self.stats.ticks_failed += 1
                self.stats.database_down = True
                await asyncio.to_thread(self.database_away)
            except StoreError as exc:  # the database away: said once a tick, no traceback
                log.error("alert dispatch tick failed, trying again: %s", exc)
                self.stats.ticks_failed += 1
            except Exception:
                self.stats.ticks_failed += 1
                log.exception("alert dispatch tick failed; trying again")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.settings.tick_s)
