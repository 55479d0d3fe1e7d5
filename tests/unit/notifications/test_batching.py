"""What delivery and notify do to go fast without losing anything, on the agent's database
(SQLite and PostgreSQL): a claim brings its channels, outcomes of every kind committed in one
transaction, group commit, the idempotency key checked by its constraint, and one user's rows
announced to the hub in id order however many threads write them."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

import pytest

from appliance.notifications.claims import Outcome, Result
from appliance.notifications.delivery import DeliveryWorker
from appliance.notifications.groupcommit import GroupCommit
from appliance.notifications.models import Channel, Notification, NotifyRequest, Status
from appliance.notifications.outbox import Outbox, Planned
from appliance.notifications.settings import NotificationSettings
from appliance.secrets import SecretManager
from appliance.secrets.env import EnvBackend
from tests.unit.conftest import AgentDatabase
from tests.unit.notifications.conftest import Clock
from tests.unit.notifications.receivers import HEADER, WebhookReceiver


def outbox_with(agent_db: AgentDatabase, webhook: WebhookReceiver, clock: Clock) -> Outbox:
    outbox = Outbox(agent_db.store(), clock)
    for name in ("hook", "other"):
        outbox.put_channel(Channel(name, "webhook", {"url": f"{webhook.url}/{name}"}), create=True)
    return outbox


def notify(outbox: Outbox, channel: str = "hook", user: str = "u1", key: str | None = None) -> int:
    request = NotifyRequest(user_id=user, subject="s", message="m", channel=channel)
    result = outbox.notify(request, [Planned(channel, None)], created_by="t", idempotency_key=key)
    return result.ids[0]


def test_a_claim_brings_the_channels_of_its_items_and_nothing_else(
    agent_db: AgentDatabase, webhook: WebhookReceiver
) -> None:
    outbox = outbox_with(agent_db, webhook, Clock())
    outbox.put_channel(Channel("unused", "webhook", {"url": webhook.url}), create=True)
    ids = [notify(outbox, "hook"), notify(outbox, "other"), notify(outbox, "hook")]
    claimed = outbox.claim_due(100, 60.0)
    assert [n.id for n in claimed.items] == ids
    assert sorted(claimed.channels) == ["hook", "other"]
    assert claimed.channels["other"].options["url"].endswith("/other")
    assert outbox.claim_due(100, 60.0).items == []  # leased


def test_every_kind_of_outcome_is_recorded_in_one_call(
    agent_db: AgentDatabase, webhook: WebhookReceiver
) -> None:
    clock = Clock()
    outbox = outbox_with(agent_db, webhook, clock)
    a, b, c, d = (notify(outbox) for _ in range(4))
    assert len(outbox.claim(100, 60.0)) == 4
    outbox.record(
        [
            Outcome(a, "hook", Result.DELIVERED, duration_ms=3.0),
            Outcome(b, "hook", Result.FAILED, "HTTP 503", 4.0, retry_at=clock.now + 10.0),
            Outcome(c, "hook", Result.DEAD, "HTTP 410", 5.0),
            Outcome(d, "hook", Result.POSTPONED, "circuit breaker open", retry_at=clock.now + 30),
        ]
    )
    got = {n: outbox.get(n) for n in (a, b, c, d)}
    assert all(item is not None for item in got.values())
    delivered, failed, dead, postponed = (got[n] for n in (a, b, c, d))
    assert delivered and delivered.status is Status.DELIVERED and delivered.delivered_at
    assert failed and failed.status is Status.PENDING and failed.last_error == "HTTP 503"
    assert failed.next_attempt_at == clock.now + 10.0
    assert dead and dead.status is Status.DEAD and dead.last_error == "HTTP 410"
    assert postponed and postponed.status is Status.PENDING
    assert postponed.next_attempt_at == clock.now + 30 and postponed.attempt_count == 0
    assert [(x.outcome, x.duration_ms) for x in delivered.attempts] == [("delivered", 3.0)]
    assert [x.outcome for x in failed.attempts] == ["failed"]
    assert [x.outcome for x in dead.attempts] == ["dead"]
    assert postponed.attempts == ()  # not attempted: no attempt row
    # All four were released: only the failed and the postponed come due again, when due.
    clock.advance(30.0)
    assert sorted(n.id for n in outbox.claim(100, 60.0)) == [b, d]


def test_group_commit_writes_what_gathered_meanwhile_together_and_reports_failure_to_each() -> None:
    batches: list[list[int]] = []
    fail = threading.Event()

    def write(items: Sequence[int]) -> None:
        if fail.is_set():
            raise RuntimeError("database away")
        batches.append(list(items))

    async def scenario() -> None:
        commits: GroupCommit[int] = GroupCommit(write)
        await asyncio.gather(*(commits.add(i) for i in range(20)))
        assert batches == [list(range(20))]  # one transaction for all twenty
        fail.set()
        results = await asyncio.gather(*(commits.add(i) for i in range(3)), return_exceptions=True)
        assert [str(r) for r in results] == ["database away"] * 3
        fail.clear()
        await commits.add(99)  # a failure does not wedge it
        assert batches[-1] == [99] and commits.writes == 3

    asyncio.run(scenario())


def test_a_running_worker_delivers_each_once_with_fewer_commits_than_notifications(
    agent_db: AgentDatabase, webhook: WebhookReceiver
) -> None:
    settings = NotificationSettings(concurrency=8, poll_interval_s=0.05)
    outbox = outbox_with(agent_db, webhook, Clock())
    ids = [notify(outbox) for _ in range(60)]
    writes: list[int] = []
    record = outbox.record

    def counted(outcomes: Sequence[Outcome]) -> None:  # the real record, its calls counted
        writes.append(len(outcomes))
        record(outcomes)

    outbox.record = counted  # type: ignore[method-assign]
    worker = DeliveryWorker(outbox, SecretManager(EnvBackend(environ=dict), 300.0), settings)

    async def scenario() -> None:
        worker.start()
        try:
            for _ in range(400):
                if all((n := outbox.get(i)) and n.status is Status.DELIVERED for i in ids):
                    break
                await asyncio.sleep(0.05)
        finally:
            await worker.stop()

    asyncio.run(scenario())
    assert sorted(int(p["headers"][HEADER]) for p in webhook.posts) == ids  # each exactly once
    assert sum(writes) == 60 and len(writes) < 60, writes


def test_a_retry_with_the_idempotency_key_is_a_duplicate_even_on_another_channel(
    agent_db: AgentDatabase, webhook: WebhookReceiver
) -> None:
    outbox = outbox_with(agent_db, webhook, Clock())
    first = notify(outbox, "hook", key="k-1")
    request = NotifyRequest(user_id="u1", subject="s", message="m", channel="other")
    again = outbox.notify(request, [Planned("other", None)], created_by="t", idempotency_key="k-1")
    assert again.duplicate and again.ids == [first]
    other_caller = outbox.notify(
        request, [Planned("other", None)], created_by="someone-else", idempotency_key="k-1"
    )
    assert not other_caller.duplicate and other_caller.ids != [first]
    assert [n.id for n in outbox.claim(100, 60.0)] == [first, other_caller.ids[0]]


@pytest.mark.parametrize("threads", [4])
def test_one_users_rows_reach_the_hub_in_id_order_from_concurrent_writers(
    agent_db: AgentDatabase, webhook: WebhookReceiver, threads: int
) -> None:
    outbox = outbox_with(agent_db, webhook, Clock())
    heard: list[int] = []
    outbox.on_notified = lambda user, items: heard.extend(n.id for n in items)

    def writer() -> None:
        for _ in range(25):
            notify(outbox)

    workers = [threading.Thread(target=writer) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert len(heard) == 25 * threads
    assert heard == sorted(heard)  # a WS client resuming from its last id misses none


def test_the_hub_is_handed_the_rows_as_written(
    agent_db: AgentDatabase, webhook: WebhookReceiver
) -> None:
    outbox = outbox_with(agent_db, webhook, Clock())
    heard: list[Notification] = []
    outbox.on_notified = lambda user, items: heard.extend(items)
    nid = notify(outbox, user="u7")
    stored = outbox.get(nid)
    assert heard == [stored]  # what the stream sends live is what the database holds


@pytest.mark.parametrize(("linger_s", "at_most"), [(0.0, None), (0.1, 10)])
def test_a_steady_trickle_is_claimed_a_few_at_a_time_after_the_linger(
    agent_db: AgentDatabase, webhook: WebhookReceiver, linger_s: float, at_most: int | None
) -> None:
    """30 notifies 10 ms apart while the worker runs: with a linger, claims carry several."""
    settings = NotificationSettings(linger_s=linger_s, poll_interval_s=5.0)
    outbox = outbox_with(agent_db, webhook, Clock())
    worker = DeliveryWorker(outbox, SecretManager(EnvBackend(environ=dict), 300.0), settings)
    ids: list[int] = []

    async def scenario() -> None:
        worker.start()
        try:
            await asyncio.sleep(0.2)  # the worker's first look found nothing: it waits
            for _ in range(30):
                ids.append(await asyncio.to_thread(notify, outbox))
                await asyncio.sleep(0.01)
            for _ in range(200):
                if worker.delivered == 30:
                    break
                await asyncio.sleep(0.05)
        finally:
            await worker.stop()

    asyncio.run(scenario())
    assert sorted(int(p["headers"][HEADER]) for p in webhook.posts) == ids  # each exactly once
    assert worker.claims <= (at_most or 30)
    if at_most is None:
        assert worker.claims > 10  # without the linger, close to one claim each
