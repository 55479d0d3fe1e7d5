"""Crashes and restarts: a new Dispatcher on the same database after the agent died at each
step of a flush sends exactly what it owes, once; nothing is repeated early and no resolve
is lost (the anchors' bugs: prometheus/alertmanager#2370 and #627, grafana/grafana#68162)."""

from __future__ import annotations

import pytest

from appliance.alerting.dispatch.grouping import GroupState
from appliance.alerting.dispatch.store import DispatchStore
from appliance.alerting.models import AlertLevel
from tests.unit.alerting.dispatch_support import alert, make_world, resolved
from tests.unit.conftest import AgentDatabase


class Crash(BaseException):
    """The agent dying (kill -9) at this point: nothing after it runs."""


class DiesBeforeRecording(DispatchStore):
    """The database as it is when the agent dies after enqueueing, before recording the
    group: the notifications are committed, the group's row is not."""

    def save_group(self, state: GroupState) -> None:
        raise Crash


def test_killed_after_enqueue_before_recording_sends_exactly_once(
    agent_db: AgentDatabase,
) -> None:
    world = make_world(agent_db.store())
    a = alert("PoolFaulted", AlertLevel.CRITICAL, pool="tank")
    first = world.dispatcher(DiesBeforeRecording(world.store))
    first.submit(a)
    world.clock.advance(30)
    with pytest.raises(Crash):
        first.tick()
    enqueued = world.sent()
    assert len(enqueued) == 4  # every channel of the critical route
    world.clock.advance(5)
    restarted = world.dispatcher()
    (again,) = restarted.tick()
    assert sorted(again.ids) == sorted(n.id for n in enqueued)  # the same rows, not new ones
    assert world.sent() == enqueued
    assert restarted.tick() == []


def test_killed_halfway_through_the_channels_adds_only_the_missing_ones(
    agent_db: AgentDatabase,
) -> None:
    world = make_world(agent_db.store())
    d = world.dispatcher()
    d.submit(alert("PoolFaulted", AlertLevel.CRITICAL))
    world.clock.advance(30)
    written = 0

    def die_after_two() -> None:
        nonlocal written
        written += 1
        if written == 2:
            raise Crash

    world.service.outbox.on_write = die_after_two
    with pytest.raises(Crash):
        d.tick()
    assert len(world.sent()) == 2
    world.service.outbox.on_write = None
    world.dispatcher().tick()
    channels = [n.channel for n in world.sent()]
    assert sorted(channels) == ["oncall-pd", "oncall-sms", "ops-mail", "team-slack"]


def test_after_a_restart_a_firing_alert_waits_for_its_repeat_interval(
    agent_db: AgentDatabase,
) -> None:
    world = make_world(agent_db.store())
    a = alert("LoadHigh")
    d = world.dispatcher()
    d.submit(a)
    world.clock.advance(30)
    assert len(d.tick()) == 1
    world.clock.advance(600)  # killed; restarted 10 minutes later
    restarted = world.dispatcher()
    restarted.submit(a)  # the evaluator's first round after the restart
    assert restarted.tick() == []
    world.clock.advance(3000 - 1)
    assert restarted.tick() == []
    world.clock.advance(1)
    assert len(restarted.tick()) == 1


def test_a_resolve_due_when_the_agent_died_is_sent_on_restart(agent_db: AgentDatabase) -> None:
    world = make_world(agent_db.store())
    a, b = alert("LoadHigh"), alert("DiskFull", AlertLevel.ERROR)
    d = world.dispatcher()
    d.submit(a)
    d.submit(b)
    world.clock.advance(30)
    assert len(d.tick()) == 2
    world.clock.advance(400)
    d.submit(resolved(a, world.clock.now))  # submitted (durable), then killed before a tick
    world.clock.advance(60)
    restarted = world.dispatcher()
    restarted.submit(b)  # still firing: not re-sent
    (sent,) = restarted.tick()
    assert sent.resolved == (a.fingerprint,) and sent.firing == ()
    assert [n.subject for n in world.sent()][-1] == "[RESOLVED] LoadHigh on appliance"
    assert restarted.tick() == []


def test_a_condition_that_began_while_the_agent_was_down_is_notified(
    agent_db: AgentDatabase,
) -> None:
    world = make_world(agent_db.store())
    world.dispatcher()  # the agent before: nothing firing
    world.clock.advance(3600)
    restarted = world.dispatcher()
    late = alert("DiskFull", AlertLevel.ERROR, starts_at=world.clock.now - 1800)
    restarted.submit(late)
    world.clock.advance(30)
    (sent,) = restarted.tick()
    assert sent.firing == (late.fingerprint,)
    assert sorted(sent.channels) == ["ops-mail", "team-slack"]
