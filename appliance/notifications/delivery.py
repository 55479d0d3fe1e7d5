"""The delivery worker: claims due notifications from the outbox and sends them through
Apprise, at least once.

- One transaction claims a batch (on PostgreSQL ``FOR UPDATE SKIP LOCKED``) with the channels
  it goes to, ``linger_s`` after a notify woke the worker (so a trickle is claimed a few at a
  time, not one per transaction); up to ``concurrency`` sends then run at once in the
  worker's own threads, and their outcomes are committed together (``GroupCommit``: one
  commit carries every outcome that finished while the previous one was written), not one
  transaction each.
- A claim is a lease (``lease_s``); a row is marked delivered only after Apprise reports
  success. A send's slot is freed only once its outcome is committed, so a crash re-sends at
  most ``concurrency`` notifications: that gap (Apprise's return to the commit of
  ``delivered``) is the at-least-once window.
- At start the worker releases every claim: the agent is the only worker on its database, so
  claims left behind belong to a process that is gone (``kill -9``).
- A failure is retried after an exponential backoff with jitter (models.backoff_s); once a
  notification has failed for ``dead_after_s`` it is dead-lettered, which raises an internal
  notification (internal.py).
- A channel that failed ``breaker_failures`` times in a row is not tried for
  ``breaker_cooldown_s`` (its notifications wait, without attempts); then one delivery probes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from appliance.notifications import internal
from appliance.notifications.channels import Delivery, SendResult, send
from appliance.notifications.claims import Outcome, Result
from appliance.notifications.groupcommit import GroupCommit
from appliance.notifications.models import Channel, Notification, backoff_s
from appliance.notifications.outbox import Outbox, UnknownChannel
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
        self._senders: ThreadPoolExecutor | None = None
        self.delivered = 0
        self.failed = 0
        #: Claims that found work (fewer than the notifications when they are batched).
        self.claims = 0

    def wake(self) -> None:
        """Look for work now (thread-safe: notify runs in a worker thread)."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        # Its own threads: the loop's default pool (cpu + 4) would cap concurrency on a small
        # machine, and the hub and the API use that one.
        self._senders = ThreadPoolExecutor(self._settings.concurrency, "notification-send")
        self._outbox.on_write = self.wake
        self._task = asyncio.create_task(self._run(), name="notification-delivery")

    async def stop(self) -> None:
        self._outbox.on_write = None
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._senders is not None:
            self._senders.shutdown(wait=False, cancel_futures=True)
            self._senders = None

    async def _release_claims(self) -> bool:
        """Free the claims of the run before this one; False while the database is away (an
        agent may start before its database: the worker waits for it, it does not die)."""
        try:
            released = await asyncio.to_thread(self._outbox.release_claims)
        except Exception as exc:
            log.error("notification outbox unavailable: %s", exc)
            return False
        if released:
            log.warning("released %d notification claims of a previous run", released)
        return True

    async def _run(self) -> None:
        commits = GroupCommit(self._outbox.record)
        slots = asyncio.Semaphore(self._settings.concurrency)
        pending: set[asyncio.Task[None]] = set()
        released = False
        try:
            while True:
                if not released:
                    released = await self._release_claims()
                    if not released:
                        await asyncio.sleep(max(self._settings.poll_interval_s, 1.0))
                        continue
                # Cleared before looking, so a notify committed during the look wakes the next.
                self._wake.clear()
                try:
                    claimed = await asyncio.to_thread(
                        self._outbox.claim_due, self._settings.batch, self._settings.lease_s
                    )
                except Exception as exc:
                    log.error("notification outbox unavailable: %s", exc)
                    claimed = None
                items = [] if claimed is None else claimed.items
                if items:
                    self.claims += 1
                for item in items:
                    await slots.acquire()
                    channel = claimed.channels.get(item.channel) if claimed else None
                    task = asyncio.create_task(self._deliver(item, channel, commits, slots))
                    pending.add(task)
                    task.add_done_callback(pending.discard)
                if len(items) < self._settings.batch:
                    try:
                        await asyncio.wait_for(self._wake.wait(), self._settings.poll_interval_s)
                    except TimeoutError:
                        continue
                    if self._settings.linger_s:
                        await asyncio.sleep(self._settings.linger_s)
        finally:
            for task in pending:
                task.cancel()

    async def _deliver(
        self,
        item: Notification,
        channel: Channel | None,
        commits: GroupCommit[Outcome],
        slots: asyncio.Semaphore,
    ) -> None:
        try:
            outcome = self._held(item)
            if outcome is None:
                loop = asyncio.get_running_loop()
                result = await loop.run_in_executor(self._senders, self._attempt, item, channel)
                outcome = self._judge(item, result)
            await commits.add(outcome)
            if outcome.result is Result.DEAD:
                await asyncio.to_thread(self._raise_internal, item, outcome.error or "failed")
        except Exception:
            log.exception("delivery of notification %d failed unexpectedly", item.id)
        finally:
            slots.release()  # only now: at most `concurrency` sent and not yet committed

    def deliver(self, item: Notification) -> None:
        """One attempt at one notification, its outcome committed (blocking)."""
        outcome = self._held(item)
        if outcome is None:
            try:
                channel: Channel | None = self._outbox.channel(item.channel)
            except UnknownChannel:
                channel = None
            outcome = self._judge(item, self._attempt(item, channel))
        self._outbox.record([outcome])
        if outcome.result is Result.DEAD:
            self._raise_internal(item, outcome.error or "failed")

    def _held(self, item: Notification) -> Outcome | None:
        """Postponed without an attempt while its channel's breaker is open, else None."""
        breaker = self.breakers.setdefault(item.channel, Breaker())
        if breaker.allows(self._clock()):
            return None
        return Outcome(
            item.id,
            item.channel,
            Result.POSTPONED,
            "circuit breaker open",
            retry_at=breaker.open_until,
        )

    def _attempt(self, item: Notification, channel: Channel | None) -> SendResult:
        """Send through Apprise (blocking; no database here)."""
        if channel is None:
            return SendResult(False, str(UnknownChannel(item.channel)), 0.0)
        if not channel.enabled:
            return SendResult(False, f"channel {channel.name} is disabled", 0.0)
        try:
            credentials = self.credentials(channel)
        except SecretError as exc:
            return SendResult(False, f"credentials unavailable: {exc}", 0.0)
        delivery = self._delivery(item, channel)
        return self._send(channel, credentials, delivery, self._settings.send_timeout_s)

    def _judge(self, item: Notification, result: SendResult) -> Outcome:
        """The outcome of an attempt, and the channel's breaker told of it."""
        s = self._settings
        now = self._clock()
        breaker = self.breakers.setdefault(item.channel, Breaker())
        breaker.record(result.ok, now, s.breaker_failures, s.breaker_cooldown_s)
        if result.ok:
            self.delivered += 1
            return Outcome(item.id, item.channel, Result.DELIVERED, None, result.duration_ms)
        self.failed += 1
        error = result.error or "failed"
        if now - item.created_at >= s.dead_after_s:
            log.error(
                "notification %d dead-lettered after %d attempts", item.id, item.attempt_count + 1
            )
            return Outcome(item.id, item.channel, Result.DEAD, error, result.duration_ms)
        retry_at = now + backoff_s(item.attempt_count + 1, s.backoff_base_s, s.backoff_max_s)
        return Outcome(item.id, item.channel, Result.FAILED, error, result.duration_ms, retry_at)

    def _delivery(self, item: Notification, channel: Channel) -> Delivery:
        """The channel kind's rendering of the item's template; its stored subject and message
        when it has none, or when rendering fails (a template never fails a delivery)."""
        plain = Delivery(item.id, item.subject, item.message, item.recipient)
        if item.template is None:
            return plain
        try:
            template = internal.TEMPLATES.get(item.template)
            if template is None:
                if self._templates is None:
                    return plain
                template = self._templates.get(item.template)
            r = render(template, channel.kind, {**item.data, "message": item.message})
        except Exception as exc:
            log.warning(
                "notification %d: template %s not rendered: %s", item.id, item.template, exc
            )
            return plain
        return Delivery(item.id, r.subject, r.text, item.recipient, r.html, r.markdown)

    def credentials(self, channel: Channel) -> dict[str, str]:
        """The channel's credentials from the secret it names ({} without one); raises
        SecretError when they cannot be read. Public for a sender outside the outbox (the
        alert dispatcher's AgentDatabaseDown, while the outbox's database is away)."""
        if not channel.secret:
            return {}
        return {k: v.get_secret_value() for k, v in self._secrets.get_all(channel.secret).items()}

    def _raise_internal(self, item: Notification, error: str) -> None:
        raised = internal.dead_letter(self._settings, item, error)
        if raised is None:
            return
        request, planned = raised
        try:
            self._outbox.notify(
                request, [planned], created_by="agent", idempotency_key=f"dead-{item.id}"
            )
        except UnknownChannel:
            log.error(
                "notification %d is dead and internal_channel %s does not exist",
                item.id,
                planned.channel,
            )
