"""The notification service the API and the runtime use: the outbox, the delivery worker and
the rules of ``notify`` (which channels, to whom, when)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from appliance.database.repository import Store
from appliance.notifications.delivery import DeliveryWorker
from appliance.notifications.models import NotifyRequest
from appliance.notifications.outbox import NoChannel, NotifyResult, Outbox, Planned
from appliance.notifications.settings import NotificationSettings
from appliance.secrets import SecretManager


@dataclass
class NotificationService:
    settings: NotificationSettings
    outbox: Outbox
    worker: DeliveryWorker
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
        return cls(settings, outbox, DeliveryWorker(outbox, secrets, settings, clock=clock), clock)

    def plan(self, request: NotifyRequest) -> list[Planned]:
        """The rows ``notify`` writes: the named channel, to ``to`` (or its default)."""
        if request.channel is None:
            raise NoChannel("no channel given")
        self.outbox.channel(request.channel)  # UnknownChannel: 422 before anything is written
        return [Planned(request.channel, request.to)]

    def notify(
        self, request: NotifyRequest, *, created_by: str, idempotency_key: str | None = None
    ) -> NotifyResult:
        """Written to the outbox (committed) when this returns; delivered by the worker."""
        return self.outbox.notify(
            request, self.plan(request), created_by=created_by, idempotency_key=idempotency_key
        )
