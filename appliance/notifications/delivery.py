"""The delivery worker: claims due notifications from the outbox and sends them through
Apprise, at least once.

- A claim is a lease (``lease_s``); the row is marked delivered only after Apprise reports
  success. A crash between the two sends that one notification again after restart: that gap
  (Apprise's return to the commit of ``delivered``) is the at-least-once window.
- At start the worker releases every claim: the agent is the only worker on its database, so
  claims left behind belong to a process that is gone (``kill -9``).
- A failure is retried after an exponential backoff with jitter (models.backoff_s); once a
  notification has failed for ``dead_after_s`` it is dead-lettered, which itself raises an
  internal notification to ``internal_user`` on ``internal_channel`` (when one is set; a dead
  internal notification raises none).
- A channel that failed ``breaker_failures`` times in a row is not tried for
  ``breaker_cooldown_s`` (its notifications wait, without attempts); then one delivery probes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from appliance.notifications.channels import Delivery, SendResult, send
from appliance.notifications.models import Channel, Notification, NotifyRequest, Severity, backoff_s
from appliance.notifications.outbox import Outbox, Planned, UnknownChannel
from appliance.notifications.settings import NotificationSettings
from appliance.notifications.templates import Templates, render
from appliance.secrets import SecretManager
from appliance.secrets.errors import SecretError

log = logging.getLogger(__name__)


@dataclass
class Breaker:
    failures: int = 0
    open_until: float = 0.0

    def allows(self, now: float) -> bool:
        return now >= self.open_until

    def record(self, ok: bool, now: float, threshold: int, cooldown_s: float) -> None:
        if ok:
            self.failures, self.open_until = 0, 0.0
            return
        self.failures += 1
        if self.failures >= threshold:
            self.open_until = now + cooldown_s


Sender = Callable[[Channel, dict[str, str], Delivery, float], SendResult]


class DeliveryWorker:
    def __init__(
        self,
        outbox: Outbox,
        secrets: SecretManager,
        settings: NotificationSettings,
        *,
        sender: Sender = send,
        clock: Callable[[], float] = time.time,
        templates: Templates | None = None,
    ) -> None:
        self._outbox = outbox
        self._templates = templates
        self._secrets = secrets
        self._settings = settings
        self._send = sender
        self._clock = clock
        self.breakers: dict[str, Breaker] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.delivered = 0
        self.failed = 0

    def wake(self) -> None:
        """Look for work now (thread-safe: notify runs in a worker thread)."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._outbox.on_write = self.wake
        self._task = asyncio.create_task(self._run(), name="notification-delivery")

    async def stop(self) -> None:
        self._outbox.on_write = None
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        released = await asyncio.to_thread(self._outbox.release_claims)
        if released:
            log.warning("released %d notification claims of a previous run", released)
        limit = asyncio.Semaphore(self._settings.concurrency)
        pending: set[asyncio.Task[None]] = set()
        while True:
            # Cleared before looking, so a notify committed during the look wakes the next one.
            self._wake.clear()
            try:
                batch = await asyncio.to_thread(
                    self._outbox.claim, self._settings.batch, self._settings.lease_s
                )
            except Exception as exc:
                log.error("notification outbox unavailable: %s", exc)
                batch = []
            for item in batch:
                await limit.acquire()
                task = asyncio.create_task(self._guarded(item, limit))
                pending.add(task)
                task.add_done_callback(pending.discard)
            if len(batch) < self._settings.batch:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._settings.poll_interval_s)

    async def _guarded(self, item: Notification, limit: asyncio.Semaphore) -> None:
        try:
            await asyncio.to_thread(self.deliver, item)
        except Exception:
            log.exception("delivery of notification %d failed unexpectedly", item.id)
        finally:
            limit.release()

    def deliver(self, item: Notification) -> None:
        """One attempt at one notification (blocking; the worker runs it in a thread)."""
        s = self._settings
        breaker = self.breakers.setdefault(item.channel, Breaker())
        now = self._clock()
        if not breaker.allows(now):
            self._outbox.postpone(item.id, breaker.open_until, "circuit breaker open")
            return
        try:
            channel = self._outbox.channel(item.channel)
            credentials = self._credentials(channel)
            if not channel.enabled:
                result = SendResult(False, f"channel {channel.name} is disabled", 0.0)
            else:
                result = self._send(
                    channel, credentials, self._delivery(item, channel), s.send_timeout_s
                )
        except UnknownChannel as exc:
            result = SendResult(False, str(exc), 0.0)
        except SecretError as exc:
            result = SendResult(False, f"credentials unavailable: {exc}", 0.0)
        now = self._clock()
        if result.ok:
            self._outbox.delivered(item.id, item.channel, result.duration_ms)
            breaker.record(True, now, s.breaker_failures, s.breaker_cooldown_s)
            self.delivered += 1
            return
        self.failed += 1
        breaker.record(False, now, s.breaker_failures, s.breaker_cooldown_s)
        error = result.error or "failed"
        if now - item.created_at >= s.dead_after_s:
            self._outbox.failed(item.id, item.channel, error, result.duration_ms, None)
            log.error(
                "notification %d dead-lettered after %d attempts", item.id, item.attempt_count + 1
            )
            self._raise_internal(item, error)
            return
        retry_at = now + backoff_s(item.attempt_count + 1, s.backoff_base_s, s.backoff_max_s)
        self._outbox.failed(item.id, item.channel, error, result.duration_ms, retry_at)

    def _delivery(self, item: Notification, channel: Channel) -> Delivery:
        """The channel kind's rendering of the item's template; its stored subject and message
        when it has none, or when rendering fails (a template never fails a delivery)."""
        plain = Delivery(item.id, item.subject, item.message, item.recipient)
        if item.template is None or self._templates is None:
            return plain
        try:
            template = self._templates.get(item.template)
            r = render(template, channel.kind, {**item.data, "message": item.message})
        except Exception as exc:
            log.warning(
                "notification %d: template %s not rendered: %s", item.id, item.template, exc
            )
            return plain
        return Delivery(item.id, r.subject, r.text, item.recipient, r.html, r.markdown)

    def _credentials(self, channel: Channel) -> dict[str, str]:
        if not channel.secret:
            return {}
        return {k: v.get_secret_value() for k, v in self._secrets.get_all(channel.secret).items()}

    def _raise_internal(self, item: Notification, error: str) -> None:
        s = self._settings
        if item.type == "internal" or s.internal_channel is None:
            return
        request = NotifyRequest(
            user_id=s.internal_user,
            type="internal",
            channel=s.internal_channel,
            severity=Severity.ERROR,
            subject=f"Notification {item.id} could not be delivered",
            message=(
                f"Notification {item.id} to {item.user_id} on channel {item.channel} was "
                f"dead-lettered after {item.attempt_count + 1} attempts: {error}"
            ),
            data={"dead_notification": item.id},
        )
        self._outbox.notify(
            request,
            [Planned(s.internal_channel, None)],
            created_by="agent",
            idempotency_key=f"dead-{item.id}",
        )
