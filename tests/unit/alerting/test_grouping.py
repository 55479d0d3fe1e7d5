"""Group keys and the group_wait / group_interval / repeat_interval decisions, from stored
state and ``now`` alone."""

from __future__ import annotations

from appliance.alerting.dispatch.grouping import (
    GroupState,
    Member,
    Reason,
    after,
    decide,
    finished,
    first_seen,
    group_key,
)
from appliance.alerting.dispatch.routing import Timers

T = Timers(group_wait_s=30.0, group_interval_s=300.0, repeat_interval_s=3600.0)
T0 = 1_000_000.0


def firing(fp: str, at: float = T0, *, suppressed: bool = False, acked: bool = False) -> Member:
    return Member(fp, True, suppressed, acked, at)


def resolved(fp: str) -> Member:
    return Member(fp, False, False, False, T0)


def new_state(members: list[Member], now: float = T0) -> GroupState:
    return GroupState("k", first_seen(members, None, now), None, frozenset(), 0)


def test_group_keys_depend_on_route_and_group_by_labels_only() -> None:
    a = {"alertname": "Disk", "host": "h1", "mount": "/"}
    b = {"alertname": "Disk", "host": "h1", "mount": "/var"}
    assert group_key("0.1", ["alertname", "host"], a) == group_key("0.1", ["alertname", "host"], b)
    assert group_key("0.1", ["alertname", "mount"], a) != group_key(
        "0.1", ["alertname", "mount"], b
    )
    assert group_key("0.1", ["alertname"], a) != group_key("0.2", ["alertname"], a)
    assert group_key("0", ["..."], a) != group_key("0", ["..."], b)


def test_a_new_group_waits_group_wait_counted_from_its_first_alert() -> None:
    members = [firing("a", T0), firing("b", T0 + 10)]
    state = new_state(members, now=T0 + 20)
    assert state.first_seen_at == T0
    assert decide(members, state, T, T0 + 29) is None
    flush = decide(members, state, T, T0 + 30)
    assert flush is not None and flush.reason is Reason.FIRST and flush.firing == ("a", "b")


def test_a_group_of_only_suppressed_or_resolved_alerts_sends_nothing_first() -> None:
    members = [firing("a", suppressed=True), resolved("b")]
    assert decide(members, new_state(members), T, T0 + 1000) is None


def test_an_unchanged_group_repeats_only_after_repeat_interval() -> None:
    members = [firing("a")]
    first = decide(members, new_state(members), T, T0 + 30)
    assert first is not None
    state = after(new_state(members), first, T0 + 30)
    assert state.seq == 1 and state.last_firing == {"a"}
    assert decide(members, state, T, T0 + 30 + 3599) is None
    flush = decide(members, state, T, T0 + 30 + 3600)
    assert flush is not None and flush.reason is Reason.REPEAT


def test_acknowledged_alerts_do_not_repeat() -> None:
    state = GroupState("k", T0, T0, frozenset({"a"}), 1)
    assert decide([firing("a", acked=True)], state, T, T0 + 10_000) is None


def test_a_new_alert_or_a_resolve_is_sent_after_group_interval() -> None:
    state = GroupState("k", T0, T0, frozenset({"a"}), 1)
    grown = [firing("a"), firing("b")]
    assert decide(grown, state, T, T0 + 299) is None
    flush = decide(grown, state, T, T0 + 300)
    assert flush is not None and flush.reason is Reason.CHANGED and flush.firing == ("a", "b")
    ended = [resolved("a")]
    flush = decide(ended, state, T, T0 + 300)
    assert flush is not None and flush.firing == () and flush.resolved == ("a",)
    done = after(state, flush, T0 + 300)
    assert finished(ended, done) and done.seq == 2


def test_a_resolve_of_an_alert_never_sent_is_not_sent() -> None:
    state = GroupState("k", T0, T0, frozenset({"a"}), 1)
    flush = decide([firing("a"), resolved("b")], state, T, T0 + 10_000)
    assert flush is not None and flush.reason is Reason.REPEAT and flush.resolved == ()


def test_an_alert_silenced_after_it_was_sent_is_forgotten_without_a_notification() -> None:
    state = GroupState("k", T0, T0, frozenset({"a"}), 1)
    flush = decide([firing("a", suppressed=True)], state, T, T0 + 300)
    assert flush is not None and flush.reason is Reason.FORGET and not flush.sends
    assert after(state, flush, T0 + 300).seq == 1


def test_a_silence_that_expires_releases_the_alert_at_once_when_the_wait_is_over() -> None:
    members = [firing("a", T0, suppressed=True)]
    assert decide(members, new_state(members), T, T0 + 600) is None
    released = [firing("a", T0)]
    flush = decide(released, new_state(released), T, T0 + 600)
    assert flush is not None and flush.firing == ("a",)
