"""The notification service the API and the runtime use: the outbox, the delivery worker and
the rules of ``notify`` (which channels, to whom, when)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from sqlalchemy import Connection

from appliance.database.repository import Store
from appliance.notifications.delivery import DeliveryWorker
from appliance.notifications.models import NotifyRequest
from appliance.notifications.outbox import NoChannel, NotifyResult, Outbox, Planned
from appliance.notifications.preferences import Preferences, plan
from appliance.notifications.realtime import Hub
from appliance.notifications.settings import NotificationSettings
from appliance.notifications.templates import Templates, render
from appliance.secrets import SecretManager


@dataclass
class NotificationService:
    settings: NotificationSettings
    outbox: Outbox
    worker: DeliveryWorker
    preferences: Preferences
    templates: Templates
    hub: Hub
    clock: Callable[[], float] = time.time

    @classmethod
    def build(
        cls,
        settings: NotificationSettings,
        store: Store,
        secrets: SecretManager,
        clock: Callable[[], float] = time.time,
    ) -> NotificationService:
        outbox = Outbox(store, clock)
        templates = Templates(store, clock)
        worker = DeliveryWorker(outbox, secrets, settings, clock=clock, templates=templates)
        hub = Hub(settings.ws_queue_size)
        outbox.on_notified = hub.signal
        return cls(settings, outbox, worker, Preferences(store, clock), templates, hub, clock)

    def plan(self, request: NotifyRequest) -> list[Planned]:
        """The rows ``notify`` writes: the named channel, to ``to`` (else the user's address
        for it, else the channel's default); without a channel, the user's preferences."""
        if request.channel is None:
            prefs = self.preferences.of(request.user_id)
            names = {c.name for c in self.outbox.channels()}
            planned = plan(request, prefs, names, self.clock())
            if not planned:
                raise NoChannel(
                    f"no channel for {request.user_id}: none named, and their preferences "
                    f"enable none for severity {request.severity.value}"
                )
            return planned
        # The channel, and the user's address for it when `to` is missing, are read where the
        # row is written, in the same transaction (no transaction of their own first).
        return [Planned(request.channel, request.to, preferred=request.to is None)]

    def notify(
        self,
        request: NotifyRequest,
        *,
        created_by: str,
        idempotency_key: str | None = None,
        also: Callable[[Connection], object] | None = None,
    ) -> NotifyResult:
        """Written to the outbox (committed) when this returns; delivered by the worker.
        With a template, its plain rendering is stored as subject and message (what the
        history shows, and the fallback); each channel gets its own rendering at delivery.
        ``also``: a last step of the same transaction (Outbox.notify)."""
        if request.template is not None:
            template = self.templates.get(request.template)  # TemplateNotFound
            plain = render(template, "text", {**request.data, "message": request.message})
            request = replace(request, subject=plain.subject, message=plain.text)
        return self.outbox.notify(
            request,
            self.plan(request),
            created_by=created_by,
            idempotency_key=idempotency_key,
            also=also,
        )
