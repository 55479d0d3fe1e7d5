"""The delivery worker on the agent's database (SQLite and PostgreSQL), delivering through
Apprise to a webhook receiver: retries with backoff and jitter, the per-channel circuit
breaker, dead letter and the internal notification it raises."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest

from appliance.database.connect import open_postgres
from appliance.notifications.delivery import DeliveryWorker
from appliance.notifications.models import Channel, NotifyRequest, Status, backoff_s
from appliance.notifications.outbox import HistoryQuery, Outbox, Planned
from appliance.notifications.settings import NotificationSettings
from appliance.secrets import SecretManager
from appliance.secrets.env import EnvBackend
from tests import support
from tests.unit.conftest import AgentDatabase
from tests.unit.notifications.conftest import Clock
from tests.unit.notifications.receivers import WebhookReceiver

SETTINGS = NotificationSettings(
    backoff_base_s=10.0,
    backoff_max_s=40.0,
    breaker_failures=3,
    breaker_cooldown_s=100.0,
    dead_after_s=1000.0,
    internal_user="ops",
    internal_channel="ops-hook",
)


def world(
    agent_db: AgentDatabase, webhook: WebhookReceiver, settings: NotificationSettings = SETTINGS
) -> tuple[Outbox, DeliveryWorker, Clock]:
    clock = Clock()
    outbox = Outbox(agent_db.store(), clock)
    secrets = SecretManager(EnvBackend(environ=dict), 300.0)
    worker = DeliveryWorker(outbox, secrets, settings, clock=clock)
    for name in ("hook", "ops-hook"):
        outbox.put_channel(Channel(name, "webhook", {"url": webhook.url + "/" + name}), create=True)
    return outbox, worker, clock


def notify(outbox: Outbox, n: int = 1, channel: str = "hook") -> list[int]:
    ids = []
    for i in range(n):
        request = NotifyRequest(user_id="u1", subject=f"s{i}", message="m", channel=channel)
        ids += outbox.notify(request, [Planned(channel, None)], created_by="t").ids
    return ids


def run_due(outbox: Outbox, worker: DeliveryWorker) -> int:
    done = 0
    while batch := outbox.claim(100, 60.0):
        for item in batch:
            worker.deliver(item)
            done += 1
    return done


def test_backoff_doubles_up_to_its_cap_with_jitter_in_the_upper_half() -> None:
    rng = random.Random(7)  # noqa: S311 - jitter, not secrets
    for attempt, ceiling in [(1, 10.0), (2, 20.0), (3, 40.0), (4, 40.0), (60, 40.0)]:
        delays = [backoff_s(attempt, 10.0, 40.0, rng) for _ in range(200)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert max(delays) - min(delays) > ceiling / 4  # jittered, not one value


def test_a_failure_is_retried_after_a_backoff_then_delivered(
    agent_db: AgentDatabase, webhook: WebhookReceiver
) -> None:
    outbox, worker, clock = world(agent_db, webhook)
    (nid,) = notify(outbox)
    webhook.status = 503
    assert run_due(outbox, worker) == 1
    item = outbox.get(nid)
    assert item is not None and item.status is Status.PENDING and item.attempt_count == 1
    assert 5.0 <= item.next_attempt_at - clock.now <= 10.0
    assert run_due(outbox, worker) == 0  # not due yet
    webhook.status = 200
    clock.advance(10.0)
    assert run_due(outbox, worker) == 1
    item = outbox.get(nid)
    assert item is not None and item.status is Status.DELIVERED
    assert [a.outcome for a in item.attempts] == ["failed", "delivered"]
    assert "503" in (item.attempts[0].error or "") or item.attempts[0].error
    assert len(webhook.delivered()) == 1


def test_the_breaker_opens_after_failures_in_a_row_and_holds_the_channel(
    agent_db: AgentDatabase, webhook: WebhookReceiver
) -> None:
    outbox, worker, clock = world(agent_db, webhook)
    ids = notify(outbox, 5)
    webhook.status = 503
    run_due(outbox, worker)
    # Three failures opened it; the other two were postponed without an attempt.
    assert len(webhook.posts) == 3
    items = [outbox.get(i) for i in ids]
    assert sorted(i.attempt_count for i in items if i) == [0, 0, 1, 1, 1]
    postponed = [i for i in items if i and i.attempt_count == 0]
    assert all(i.last_error == "circuit breaker open" for i in postponed)
    assert all(i.next_attempt_at == clock.now + 100.0 for i in postponed)
    # Another channel is not held by it.
    webhook.status = 200
    notify(outbox, 1, channel="ops-hook")
    run_due(outbox, worker)
    assert len(webhook.posts) == 4
    # After the cooldown, everything goes out.
    clock.advance(100.0)
    run_due(outbox, worker)
    assert all((i := outbox.get(n)) and i.status is Status.DELIVERED for n in ids)
    assert len(webhook.delivered()) == 6


def test_dead_letter_after_a_bounded_time_raises_an_internal_notification(
    agent_db: AgentDatabase, webhook: WebhookReceiver
) -> None:
    settings = SETTINGS.model_copy(update={"breaker_failures": 1000})
    outbox, worker, clock = world(agent_db, webhook, settings)
    (nid,) = notify(outbox)
    webhook.status = 503
    attempts = 0
    while (item := outbox.get(nid)) and item.status is Status.PENDING:
        clock.now = max(clock.now, item.next_attempt_at)
        outbox_due = outbox.claim(100, 60.0)
        for due in outbox_due:
            if due.channel == "hook":
                worker.deliver(due)
                attempts += 1
        assert attempts < 100
    dead = outbox.get(nid)
    assert dead is not None and dead.status is Status.DEAD
    assert dead.attempts[-1].outcome == "dead"
    assert clock.now - dead.created_at >= 1000.0
    # The dead letter raised one internal notification, to ops on the ops channel.
    (internal,) = [
        n for n in outbox.history(HistoryQuery(user_id="ops"))[0] if n.type == "internal"
    ]
    assert internal.channel == "ops-hook" and f"Notification {nid}" in internal.subject
    webhook.status = 200
    clock.advance(1.0)
    for due in outbox.claim(100, 60.0):
        worker.deliver(due)
    assert [p["json"]["title"] for p in webhook.delivered()] == [internal.subject]


def test_a_running_worker_delivers_what_notify_writes_without_waiting_for_its_poll(
    agent_db: AgentDatabase, webhook: WebhookReceiver
) -> None:
    settings = SETTINGS.model_copy(update={"poll_interval_s": 30.0})

    async def scenario() -> None:
        outbox, worker, _ = world(agent_db, webhook, settings)
        worker.start()
        try:
            await asyncio.sleep(0.2)  # its first look found nothing; now it waits 30 s
            await asyncio.to_thread(notify, outbox, 20)
            for _ in range(200):
                if len(webhook.delivered()) == 20:
                    break
                await asyncio.sleep(0.05)
        finally:
            await worker.stop()
        assert len(webhook.delivered()) == 20
        assert sorted(p["json"]["title"] for p in webhook.delivered()) == sorted(
            f"s{i}" for i in range(20)
        )

    asyncio.run(scenario())


@pytest.mark.parametrize("claims", [1, 3])
def test_claims_left_by_a_dead_worker_are_released_at_start(
    agent_db: AgentDatabase, webhook: WebhookReceiver, claims: int
) -> None:
    outbox, _, _ = world(agent_db, webhook)
    notify(outbox, claims)
    assert len(outbox.claim(100, 3600.0)) == claims  # then the process "died"
    assert outbox.claim(100, 3600.0) == []
    assert outbox.release_claims() == claims
    assert len(outbox.claim(100, 3600.0)) == claims


def test_a_worker_started_while_its_database_is_away_delivers_once_it_is_back(
    tmp_path: Path, webhook: WebhookReceiver
) -> None:
    """The agent may start before PostgreSQL (a reboot, a restore): the worker must wait for
    it, not die at its first query and leave every notification undelivered until a restart."""
    with support.postgres_server() as server:
        server.execute("CREATE DATABASE agent")
        store = open_postgres(server.superuser_dsn("agent"), connect_timeout_s=2.0)
        store.prepare()
        try:
            outbox = Outbox(store, Clock())
            outbox.put_channel(Channel("hook", "webhook", {"url": webhook.url}), create=True)
            notify(outbox, 3)
            worker = DeliveryWorker(
                outbox, SecretManager(EnvBackend(environ=dict), 300.0), SETTINGS, clock=Clock()
            )
            server.stop()

            async def scenario() -> None:
                worker.start()
                try:
                    await asyncio.sleep(1.5)  # its first looks fail: the database is away
                    assert webhook.delivered() == []
                    await asyncio.to_thread(server.start)
                    for _ in range(200):
                        if len(webhook.delivered()) == 3:
                            break
                        await asyncio.sleep(0.05)
                finally:
                    await worker.stop()

            asyncio.run(scenario())
            assert sorted(p["json"]["title"] for p in webhook.delivered()) == ["s0", "s1", "s2"]
        finally:
            store.close()
