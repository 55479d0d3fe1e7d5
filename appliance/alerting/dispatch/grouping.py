"""Groups and their timers, as Alertmanager decides them, from stored state and ``now``.

Alerts of one route with the same values of its ``group_by`` labels form a group, notified
together. A new group waits ``group_wait`` (more alerts may join); after that a change (an
alert that starts firing, or one that resolves) is sent at most every ``group_interval``;
with nothing new, the firing alerts are sent again after ``repeat_interval``. What was last
sent (the firing fingerprints) is stored with the group, so a restart neither repeats early
nor forgets a resolve it owes. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from appliance.alerting.dispatch.routing import Timers
from appliance.alerting.models import fingerprint

#: group_by = ["..."]: every label (each distinct alert is its own group).
EVERY_LABEL = "..."


def group_labels(group_by: Sequence[str], labels: Mapping[str, str]) -> dict[str, str]:
    if EVERY_LABEL in group_by:
        return dict(labels)
    return {name: labels.get(name, "") for name in group_by}


def group_key(route: str, group_by: Sequence[str], labels: Mapping[str, str]) -> str:
    """Stable across restarts and reloads: the route's identity and a hash of the grouping
    labels."""
    return f"{route}/{fingerprint(group_labels(group_by, labels))}"


@dataclass(frozen=True, slots=True)
class Member:
    """An alert of the group as the dispatcher sees it now."""

    fingerprint: str
    firing: bool
    #: Silenced or inhibited: not sent while so.
    suppressed: bool
    acked: bool
    #: When the dispatcher first heard of this firing (durable).
    received_at: float


@dataclass(frozen=True, slots=True)
class GroupState:
    """What is stored of a group between ticks."""

    key: str
    first_seen_at: float
    last_flush_at: float | None
    #: The firing alerts the last notification named.
    last_firing: frozenset[str]
    #: Notifications sent so far (the next one's sequence number is seq + 1).
    seq: int


class Reason(StrEnum):
    FIRST = "first"
    CHANGED = "changed"
    REPEAT = "repeat"
    #: Alerts once sent are gone without a resolve to tell (silenced, pruned): forget them.
    FORGET = "forget"


@dataclass(frozen=True, slots=True)
class Flush:
    reason: Reason
    firing: tuple[str, ...]
    resolved: tuple[str, ...]

    @property
    def sends(self) -> bool:
        return self.reason is not Reason.FORGET


def first_seen(members: Sequence[Member], stored: GroupState | None, now: float) -> float:
    """A group's start: stored, else its earliest alert's arrival (which is durable, so
    group_wait counts from there even across a restart)."""
    if stored is not None:
        return stored.first_seen_at
    return min((m.received_at for m in members if m.firing), default=now)


def decide(
    members: Sequence[Member], state: GroupState, timers: Timers, now: float
) -> Flush | None:
    """What to send for this group now, or None (nothing, or not yet)."""
    firing = tuple(sorted(m.fingerprint for m in members if m.firing and not m.suppressed))
    resolved = tuple(
        sorted(
            m.fingerprint for m in members if not m.firing and m.fingerprint in state.last_firing
        )
    )
    if state.last_flush_at is None:
        if firing and now >= state.first_seen_at + timers.group_wait_s:
            return Flush(Reason.FIRST, firing, ())
        return None
    new = set(firing) - state.last_firing
    if new or resolved or (state.last_firing and not firing):
        if now < state.last_flush_at + timers.group_interval_s:
            return None
        if not firing and not resolved:
            return Flush(Reason.FORGET, (), ())
        return Flush(Reason.CHANGED, firing, resolved)
    unacked = any(m.firing and not m.suppressed and not m.acked for m in members)
    if firing and unacked and now >= state.last_flush_at + timers.repeat_interval_s:
        return Flush(Reason.REPEAT, firing, ())
    return None


def after(state: GroupState, flush: Flush, now: float) -> GroupState:
    """The group's state once ``flush`` is sent (or forgotten)."""
    return GroupState(
        key=state.key,
        first_seen_at=state.first_seen_at,
        last_flush_at=now,
        last_firing=frozenset(flush.firing),
        seq=state.seq + (1 if flush.sends else 0),
    )


def finished(members: Sequence[Member], state: GroupState) -> bool:
    """Nothing firing and nothing owed: the group can be dropped (a new one starts over)."""
    return not state.last_firing and not any(m.firing for m in members)
