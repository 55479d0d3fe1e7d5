"""The dispatcher on the agent's database (SQLite and PostgreSQL) with real channels: the
seed's severity routing, group_wait batching, repeat_interval, silences, inhibition,
escalation and acknowledgement. The clock is the test's; ticks are called, never awaited."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

import pytest

from appliance.alerting.dispatch.escalation import EscalationPolicy, EscalationStep
from appliance.alerting.dispatch.routing import Route
from appliance.alerting.dispatch.settings import DispatchSettings
from appliance.alerting.dispatch.store import DispatchStore
from appliance.alerting.models import AlertLevel, AlertStatus
from appliance.notifications.models import Status
from tests.unit.alerting.dispatch_support import ROUTING, T0, alert, make_world, resolved
from tests.unit.conftest import AgentDatabase
from tests.unit.notifications.receivers import WebhookReceiver

EVERYTHING = ["hook", "oncall-pd", "oncall-sms", "ops-mail", "team-slack"]


def test_severity_routing_reaches_the_seeds_receivers_and_really_delivers(
    agent_db: AgentDatabase, webhook: WebhookReceiver
) -> None:
    world = make_world(agent_db.store(), webhook.url)
    d = world.dispatcher()
    d.submit(alert("DiskFull", AlertLevel.CRITICAL))
    d.submit(alert("PoolDegraded", AlertLevel.ERROR))
    d.submit(alert("LoadHigh", AlertLevel.WARNING))
    d.submit(alert("Upgraded", AlertLevel.INFO))
    assert d.tick() == []  # group_wait
    world.clock.advance(30)
    assert len(d.tick()) == 4
    assert world.channels_of("DiskFull") == EVERYTHING
    assert world.channels_of("PoolDegraded") == ["ops-mail", "team-slack"]
    assert world.channels_of("LoadHigh") == ["team-slack"]
    assert world.channels_of("Upgraded") == ["team-slack"]
    critical = next(n for n in world.sent() if n.channel == "hook")
    assert critical.subject == "[CRITICAL] DiskFull firing on appliance"
    assert critical.severity.value == "critical"
    # The webhook (the one channel with a receiver here) gets the critical alert, once.
    hook_ids = [n.id for n in world.sent() if n.channel == "hook"]
    for n in world.sent():
        if n.channel != "hook":
            world.service.outbox.delivered(n.id, n.channel, 0.0)  # no vendor in this test
    assert world.deliver() == 1
    (post,) = webhook.delivered()
    assert "DiskFull" in post["json"]["title"] and "DiskFull summary" in post["json"]["message"]
    assert world.service.outbox.get(hook_ids[0]).status is Status.DELIVERED  # type: ignore[union-attr]


def test_group_wait_batches_alerts_of_one_group_into_one_notification(
    agent_db: AgentDatabase,
) -> None:
    world = make_world(agent_db.store())
    d = world.dispatcher()
    d.submit(alert("DiskFull", mount="/"))
    world.clock.advance(10)
    d.submit(alert("DiskFull", mount="/var"))
    world.clock.advance(19)
    assert d.tick() == []
    world.clock.advance(1)
    (sent,) = d.tick()
    assert len(sent.firing) == 2 and sent.channels == ("team-slack",)
    (n,) = world.sent()
    assert "mount=/," in n.message and "mount=/var," in n.message
    assert d.tick() == []


def test_a_firing_alert_is_not_renotified_before_its_repeat_interval(
    agent_db: AgentDatabase,
) -> None:
    world = make_world(agent_db.store())
    d = world.dispatcher()
    a = alert("LoadHigh")
    d.submit(a)
    world.clock.advance(30)
    assert len(d.tick()) == 1
    for _ in range(59):  # re-submitted on every evaluation, ticked every minute
        world.clock.advance(60)
        d.submit(a)
        assert d.tick() == []
    world.clock.advance(59)
    assert d.tick() == []  # 3599 s since the first
    world.clock.advance(1)
    (again,) = d.tick()
    assert again.firing == (a.fingerprint,)
    assert len(world.sent()) == 2


def test_a_resolve_is_sent_after_group_interval_and_only_for_alerts_sent_firing(
    agent_db: AgentDatabase,
) -> None:
    world = make_world(agent_db.store())
    d = world.dispatcher()
    a = alert("LoadHigh")
    d.submit(a)
    world.clock.advance(30)
    d.tick()
    world.clock.advance(60)
    d.submit(resolved(a, world.clock.now))
    assert d.tick() == []  # group_interval since the first notification
    world.clock.advance(240)
    (sent,) = d.tick()
    assert sent.firing == () and sent.resolved == (a.fingerprint,)
    assert world.sent()[-1].subject == "[RESOLVED] LoadHigh on appliance"
    # Fired and resolved within group_wait: nobody heard of it, nobody is told.
    b = alert("Blip")
    d.submit(b)
    world.clock.advance(5)
    d.submit(resolved(b, world.clock.now))
    world.clock.advance(3600)
    assert d.tick() == []


def test_a_silence_suppresses_a_firing_alert_and_its_expiry_releases_it(
    agent_db: AgentDatabase,
) -> None:
    world = make_world(agent_db.store())
    d = world.dispatcher()
    store = d.store
    silence = store.add_silence(
        ["alertname=PoolScrub", "pool=~tank.*"], T0, T0 + 3600, "operator", "scrub window", T0
    )
    d.submit(alert("PoolScrub", pool="tank"))
    d.submit(alert("PoolScrub", pool="backup"))
    world.clock.advance(30)
    (sent,) = d.tick()
    assert sent.firing == (alert("PoolScrub", pool="backup").fingerprint,)
    active = {v.alert.labels["pool"]: v.silenced_by for v in d.view()}
    assert active == {"tank": (silence.id,), "backup": ()}
    world.clock.advance(600)
    assert d.tick() == []
    store.expire_silence(silence.id, world.clock.now)
    (released,) = d.tick()
    assert len(released.firing) == 2


def test_an_inhibited_alert_is_not_sent(agent_db: AgentDatabase) -> None:
    world = make_world(agent_db.store())
    d = world.dispatcher()
    d.submit(alert("PoolFaulted", AlertLevel.CRITICAL, pool="tank", state="FAULTED"))
    d.submit(alert("DatasetQuota", pool="tank", dataset="tank/home"))
    d.submit(alert("DatasetQuota", pool="backup", dataset="backup/home"))
    world.clock.advance(30)
    d.tick()
    assert world.channels_of("PoolFaulted") == EVERYTHING[1:]
    (quota,) = [n.message for n in world.sent() if "DatasetQuota" in n.subject]
    assert "backup/home" in quota and "tank/home" not in quota
    inhibited = {v.alert.labels.get("dataset"): v.inhibited for v in d.view()}
    assert inhibited == {None: False, "tank/home": True, "backup/home": False}


def test_an_unacknowledged_critical_alert_escalates_and_an_acknowledged_one_does_not(
    agent_db: AgentDatabase,
) -> None:
    routing = ROUTING.model_copy(
        update={
            "escalation_policies": [
                EscalationPolicy(
                    name="oncall",
                    steps=[
                        EscalationStep(after_minutes=15, receivers=["oncall-sms"]),
                        EscalationStep(after_minutes=30, receivers=["ops-mail"]),
                    ],
                )
            ],
            "route": Route(receivers=["team-slack"], group_by=["alertname"]),
        }
    )
    world = make_world(agent_db.store(), routing=routing)
    d = world.dispatcher()
    left, taken = alert("PoolFaulted", AlertLevel.CRITICAL), alert("Raid", AlertLevel.CRITICAL)
    d.submit(left)
    d.submit(taken)
    world.clock.advance(30)
    d.tick()
    assert d.ack([taken.fingerprint], "operator") == [taken.fingerprint]
    world.clock.advance(14 * 60)
    assert d.tick() == []
    world.clock.advance(60)
    (step1,) = d.tick()
    assert step1.channels == ("oncall-sms",) and step1.firing == (left.fingerprint,)
    assert "escalated: oncall step 1" in world.sent()[-1].subject
    assert d.tick() == []
    world.clock.advance(15 * 60)
    (step2,) = d.tick()
    assert step2.channels == ("ops-mail",)
    assert not [n for n in world.sent() if "Raid" in n.subject and n.channel != "team-slack"]


def test_explicit_channels_bypass_the_tree_not_silences_and_carry_the_enrichment(
    agent_db: AgentDatabase,
) -> None:
    world = make_world(agent_db.store())
    d = world.dispatcher()
    trace = "Traceback (most recent call last):\n" + "  a frame\n" * 500 + "ValueError: boom"
    notes = {"summary": "backup failed", "context": '{"job": "nightly"}', "stack_trace": trace}
    failed = alert("BackupFailed", AlertLevel.CRITICAL)
    failed = replace(failed, rule_id=None, channels=("ops-mail",), annotations=notes)
    noisy = replace(alert("Noisy", AlertLevel.CRITICAL), channels=("ops-mail",))
    d.store.add_silence(["alertname=Noisy"], T0, T0 + 3600, "op", "known", T0)
    d.submit(failed)
    d.submit(noisy)
    world.clock.advance(30)
    (sent,) = d.tick()
    assert sent.channels == ("ops-mail",) and sent.firing == (failed.fingerprint,)
    (n,) = world.sent()
    assert "ValueError: boom" in n.message and 'context: {"job": "nightly"}' in n.message
    assert len(n.message) < 3000  # the end of the trace only


@pytest.mark.parametrize("status", [AlertStatus.PENDING, AlertStatus.INACTIVE, AlertStatus.NODATA])
def test_states_other_than_firing_and_resolved_are_not_kept(
    agent_db: AgentDatabase, status: AlertStatus
) -> None:
    world = make_world(agent_db.store())
    d = world.dispatcher()
    d.submit(alert("X", status=status))
    d.submit(resolved(alert("Y"), T0))
    assert DispatchStore(world.store).alerts() == []


def test_the_loop_sends_soon_after_a_submit_not_at_its_next_tick(agent_db: AgentDatabase) -> None:
    world = make_world(agent_db.store(), routing=ROUTING.model_copy(update={"group_wait_s": 0.0}))
    d = world.dispatcher()
    d.settings = DispatchSettings(tick_s=60.0)  # without the wake-up, nothing for a minute

    async def run() -> float:
        d.start()
        await asyncio.sleep(0.2)  # its first tick: nothing to send
        started = time.monotonic()
        await asyncio.to_thread(d.submit, alert("LoadHigh"))
        while not world.sent() and time.monotonic() - started < 10:
            await asyncio.sleep(0.02)
        waited = time.monotonic() - started
        await d.stop()
        return waited

    assert asyncio.run(run()) < 5.0
    assert [n.channel for n in world.sent()] == ["team-slack"]


def test_long_resolved_alerts_and_silences_are_forgotten_but_no_resolve_owed(
    agent_db: AgentDatabase,
) -> None:
    world = make_world(agent_db.store())
    d = world.dispatcher()
    d.settings = DispatchSettings(resolved_retention_s=100.0)
    old = d.store.add_silence(["a=b"], T0, T0 + 10, "op", "short", T0)
    kept = d.store.add_silence(["a=b"], T0, T0 + 5000, "op", "long", T0)
    a = alert("LoadHigh")
    d.submit(a)
    world.clock.advance(30)
    d.tick()
    d.submit(resolved(a, world.clock.now))
    world.clock.advance(1000)  # down far longer than the retention
    (sent,) = d.tick()
    assert sent.resolved == (a.fingerprint,)
    assert [x.fingerprint for x in DispatchStore(world.store).alerts()] == [a.fingerprint]
    d.tick()
    assert DispatchStore(world.store).alerts() == []
    assert [x.id for x in d.store.silences()] == [kept.id]  # ended 900 s before: forgotten
    assert old.id not in {x.id for x in d.store.silences()}


def test_an_ad_hoc_alert_not_sent_again_resolves_after_resolve_timeout(
    agent_db: AgentDatabase,
) -> None:
    world = make_world(agent_db.store())
    d = world.dispatcher()
    ad_hoc = replace(alert("BackupScriptFailed", AlertLevel.ERROR), rule_id=None)
    ruled = alert("DiskFull", AlertLevel.ERROR)
    d.submit(ad_hoc)
    d.submit(ruled)
    world.clock.advance(30)
    assert len(d.tick()) == 2
    world.clock.advance(269)
    assert d.tick() == []
    assert len([v for v in d.view() if v.alert.firing]) == 2  # 299 s since it was submitted
    world.clock.advance(1)
    assert d.tick() == []  # resolved at 300 s; sent once group_interval since the first is up
    firing = [v.alert.fingerprint for v in d.view() if v.alert.firing]
    assert firing == [ruled.fingerprint]  # a rule's alert waits for its evaluation
    world.clock.advance(30)
    (sent,) = d.tick()
    assert sent.resolved == (ad_hoc.fingerprint,)


def test_replacing_the_routing_does_not_resend_what_was_sent(agent_db: AgentDatabase) -> None:
    world = make_world(agent_db.store())
    d = world.dispatcher()
    d.submit(alert("PoolFaulted", AlertLevel.CRITICAL))
    world.clock.advance(30)
    assert len(d.tick()) == 1
    tree = ROUTING.route
    added = Route(matchers=["team=db"], receivers=["ops-mail"])
    d.set_routing(
        ROUTING.model_copy(
            update={"route": tree.model_copy(update={"routes": [added, *tree.routes]})}
        )
    )
    world.clock.advance(600)
    assert d.tick() == []  # the same route, moved: the same group
    paging = tree.routes[0].model_copy(update={"receivers": ["oncall-pd"]})
    d.set_routing(
        ROUTING.model_copy(
            update={"route": tree.model_copy(update={"routes": [paging, *tree.routes[1:]]})}
        )
    )
    world.clock.advance(30)
    (sent,) = d.tick()  # a route that now sends elsewhere: its new receivers are told
    assert sent.channels == ("oncall-pd",)


def test_a_silence_ending_on_its_own_releases_the_alert_at_its_end(
    agent_db: AgentDatabase,
) -> None:
    world = make_world(agent_db.store())
    d = world.dispatcher()
    d.store.add_silence(["alertname=Scrub"], T0, T0 + 600, "operator", "scrub", T0)
    d.submit(alert("Scrub"))
    for _ in range(9):  # ticked every minute while the silence holds
        world.clock.advance(60)
        assert d.tick() == []
    world.clock.advance(60)  # T0 + 600: the silence has ended
    (sent,) = d.tick()
    assert sent.firing == (alert("Scrub").fingerprint,)


def test_an_alert_that_fires_again_after_its_resolve_is_notified_again(
    agent_db: AgentDatabase,
) -> None:
    world = make_world(agent_db.store())
    d = world.dispatcher()
    a = alert("LoadHigh")
    for episode in range(3):
        d.submit(a)
        world.clock.advance(30)
        (fired,) = d.tick()
        assert fired.firing == (a.fingerprint,) and fired.ids, episode
        world.clock.advance(300)
        d.submit(resolved(a, world.clock.now))
        (ended,) = d.tick()
        assert ended.resolved == (a.fingerprint,) and ended.ids, episode
        d.tick()  # the group is over
    assert len(world.sent()) == 6
