"""How the dispatcher's decisions become notifications: one ``notify`` per channel its
receivers name, each with its own idempotency key (a retry after a crash halfway through the
channels adds only the missing ones; the outbox answers a key it has with its rows)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from appliance.alerting.dispatch.routing import resolve_receivers
from appliance.alerting.dispatch.stats import DispatchStats
from appliance.notifications.models import NotifyRequest, Severity
from appliance.notifications.outbox import UnknownChannel
from appliance.notifications.service import NotificationService

log = logging.getLogger(__name__)

#: ``created_by`` of the dispatcher's notifications (idempotency keys are unique per caller).
CREATED_BY = "alerting"


@dataclass(frozen=True, slots=True)
class Sent:
    """One notification the tick enqueued (or found already enqueued after a crash)."""

    key: str
    channels: tuple[str, ...]
    ids: tuple[int, ...]
    firing: tuple[str, ...]
    resolved: tuple[str, ...]


def kind_of(key: str, template: str) -> str:
    """The metrics' kind of a notification (stats.KINDS), from its key and template."""
    if key.startswith("escalate:"):
        return "escalation"
    if key.startswith("dbdown:"):
        return "database_down"
    return "resolved" if template == "alert_resolved" else "firing"


@dataclass
class Notifier:
    notifications: NotificationService
    #: The notifications' user (DispatchSettings.user_id).
    user_id: str
    stats: DispatchStats

    def notify(
        self,
        key: str,
        receivers: Sequence[str],
        channels: Sequence[tuple[str, str, bool]],
        template: str,
        data: dict[str, str],
        firing: Sequence[str] = (),
        resolved: Sequence[str] = (),
    ) -> Sent:
        """Enqueue ``template`` with ``data`` to each channel ``receivers`` resolve to among
        ``channels`` ((name, kind, enabled)); raises the store's error when it is away."""
        names = resolve_receivers(receivers, channels)
        kind = kind_of(key, template)
        if not names:
            log.warning("alert notification %s: receivers %s name no channel", key, receivers)
        ids: list[int] = []
        for name in names:
            request = NotifyRequest(
                user_id=self.user_id,
                subject="",
                message=data["summary"],
                type="alert",
                channel=name,
                severity=Severity(data["severity"]),
                template=template,
                data=dict(data),
            )
            try:
                result = self.notifications.notify(
                    request, created_by=CREATED_BY, idempotency_key=f"{key}:{name}"
                )
            except UnknownChannel:
                log.warning("alert notification %s: channel %s is gone", key, name)
                continue
            ids.extend(result.ids)
            self.stats.notified([name], kind)
        return Sent(key, tuple(names), tuple(ids), tuple(firing), tuple(resolved))
