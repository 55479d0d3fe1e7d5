"""A dispatcher on a real agent database with real notification channels, a clock the test
turns, and the worker's own delivery code run in the test's thread."""

from __future__ import annotations

from dataclasses import dataclass, field

from appliance.alerting.dispatch.dispatcher import CREATED_BY, Dispatcher
from appliance.alerting.dispatch.settings import DispatchSettings, RoutingSettings
from appliance.alerting.dispatch.store import DispatchStore
from appliance.alerting.models import Alert, AlertLevel, AlertStatus
from appliance.database.repository import Store
from appliance.notifications.models import Channel, Notification
from appliance.notifications.outbox import HistoryQuery
from appliance.notifications.service import NotificationService
from appliance.notifications.settings import NotificationSettings
from appliance.secrets import SecretManager
from appliance.secrets.env import EnvBackend
from tests.unit.notifications.conftest import Clock

T0 = 1_000_000.0
#: One channel of each kind the severity routing names, and a webhook that really delivers.
CHANNELS = (
    Channel("team-slack", "slack", {}, secret="notify/slack"),
    Channel("ops-mail", "email", {"host": "127.0.0.1", "from": "agent@example.com"}),
    Channel("oncall-pd", "pagerduty", {}, secret="notify/pd"),
    Channel("oncall-sms", "twilio", {"from": "+15550100"}, secret="notify/sms"),
)
ROUTING = RoutingSettings(group_wait_s=30.0, group_interval_s=300.0, repeat_interval_s=3600.0)


@dataclass
class World:
    store: Store
    service: NotificationService
    clock: Clock
    routing: RoutingSettings
    dispatchers: list[Dispatcher] = field(default_factory=list)

    def dispatcher(self, store: DispatchStore | None = None) -> Dispatcher:
        """A new dispatcher on the same database (what a restarted agent builds)."""
        d = Dispatcher(
            store or DispatchStore(self.store),
            self.service,
            DispatchSettings(),
            self.routing,
            self.clock,
        )
        self.dispatchers.append(d)
        return d

    def sent(self) -> list[Notification]:
        """The dispatcher's notifications in the outbox, oldest first."""
        items, _ = self.service.outbox.history(HistoryQuery(limit=500))
        return sorted((n for n in items if n.created_by == CREATED_BY), key=lambda n: n.id)

    def channels_of(self, subject_part: str) -> list[str]:
        return sorted(n.channel for n in self.sent() if subject_part in n.subject)

    def deliver(self) -> int:
        done = 0
        while batch := self.service.outbox.claim(100, 60.0):
            for item in batch:
                self.service.worker.deliver(item)
                done += 1
        return done


def make_world(
    store: Store, webhook_url: str | None = None, routing: RoutingSettings = ROUTING
) -> World:
    clock = Clock(T0)
    secrets = SecretManager(EnvBackend(environ=dict), 300.0)
    service = NotificationService.build(NotificationSettings(), store, secrets, clock)
    for channel in CHANNELS:
        service.outbox.put_channel(channel, create=True)
    if webhook_url is not None:
        service.outbox.put_channel(Channel("hook", "webhook", {"url": webhook_url}), create=True)
    return World(store, service, clock, routing)


def alert(
    name: str,
    severity: AlertLevel = AlertLevel.WARNING,
    status: AlertStatus = AlertStatus.FIRING,
    starts_at: float = T0,
    **labels: str,
) -> Alert:
    return Alert(
        labels={"alertname": name, "severity": severity.value, "host": "appliance", **labels},
        status=status,
        severity=severity,
        starts_at=starts_at,
        annotations={"summary": f"{name} summary"},
        ends_at=None if status is AlertStatus.FIRING else starts_at + 60,
        rule_id=f"rule-{name}",  # as the evaluator's: resolved by evaluation, not by time
    )


def resolved(a: Alert, at: float) -> Alert:
    return Alert(
        labels=a.labels,
        status=AlertStatus.RESOLVED,
        severity=a.severity,
        starts_at=a.starts_at,
        annotations=a.annotations,
        ends_at=at,
        rule_id=a.rule_id,
        channels=a.channels,
    )
