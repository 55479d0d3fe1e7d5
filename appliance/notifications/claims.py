"""The delivery worker's side of the outbox: claims of due notifications (with the channels
they go to, in the same transaction) and their outcomes, recorded many per transaction.

Recording in batches is what lets delivery outrun the database: one commit (one WAL flush on
PostgreSQL) carries every outcome that finished while the previous commit was being made,
instead of one commit per notification.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, and_, bindparam, insert, or_, select, update

from appliance.database.repository import Store
from appliance.database.schema import notification_attempts, notification_channels, notifications
from appliance.notifications.models import Channel, Notification, Status
from appliance.notifications.rows import channel_of, notification_of


class Result(StrEnum):
    DELIVERED = "delivered"
    #: Failed; due again at ``retry_at``.
    FAILED = "failed"
    #: Failed for the last time (dead letter).
    DEAD = "dead"
    #: Not attempted (an open breaker); due again at ``retry_at``, no attempt recorded.
    POSTPONED = "postponed"


@dataclass(frozen=True, slots=True)
class Outcome:
    notification_id: int
    channel: str
    result: Result
    error: str | None = None
    duration_ms: float = 0.0
    retry_at: float | None = None


@dataclass(frozen=True, slots=True)
class Claimed:
    items: list[Notification]
    #: The channels the items go to, by name (one missing: it was deleted).
    channels: dict[str, Channel]


def claim(store: Store, now: float, limit: int, lease_s: float) -> Claimed:
    """Due notifications, oldest first, leased to the caller for ``lease_s``; on PostgreSQL
    rows another transaction holds are skipped (FOR UPDATE SKIP LOCKED), not waited for."""

    def work(c: Connection) -> Claimed:
        due = and_(
            notifications.c.status.in_([Status.PENDING.value, Status.HELD.value]),
            notifications.c.next_attempt_at <= now,
            or_(notifications.c.claimed_until.is_(None), notifications.c.claimed_until < now),
        )
        query = select(notifications).where(due).order_by(notifications.c.id).limit(limit)
        if c.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        rows = c.execute(query).all()
        if not rows:
            return Claimed([], {})
        c.execute(
            update(notifications)
            .where(notifications.c.id.in_([r.id for r in rows]))
            .values(claimed_until=now + lease_s)
        )
        names = sorted({r.channel for r in rows})
        t = notification_channels
        channels = {
            ch.name: ch for ch in map(channel_of, c.execute(select(t).where(t.c.name.in_(names))))
        }
        return Claimed([notification_of(r) for r in rows], channels)

    return store.run(work, exclusive=True)


def release(store: Store) -> int:
    """Forget every claim (at worker start: the one worker that held them is gone)."""

    def work(c: Connection) -> int:
        result = c.execute(
            update(notifications)
            .where(notifications.c.claimed_until.is_not(None))
            .values(claimed_until=None)
        )
        return int(result.rowcount or 0)

    return store.run(work, exclusive=True)


_n = notifications.c
#: One statement per kind of outcome, run once with every outcome of that kind.
_UPDATES: dict[Result, Any] = {
    Result.DELIVERED: update(notifications)
    .where(_n.id == bindparam("o_id"))
    .values(
        status=Status.DELIVERED.value,
        delivered_at=bindparam("o_now"),
        claimed_until=None,
        last_error=None,
        attempt_count=_n.attempt_count + 1,
    ),
    Result.FAILED: update(notifications)
    .where(_n.id == bindparam("o_id"))
    .values(
        status=Status.PENDING.value,
        next_attempt_at=bindparam("o_retry_at"),
        claimed_until=None,
        last_error=bindparam("o_error"),
        attempt_count=_n.attempt_count + 1,
    ),
    Result.DEAD: update(notifications)
    .where(_n.id == bindparam("o_id"))
    .values(
        status=Status.DEAD.value,
        claimed_until=None,
        last_error=bindparam("o_error"),
        attempt_count=_n.attempt_count + 1,
    ),
    Result.POSTPONED: update(notifications)
    .where(_n.id == bindparam("o_id"))
    .values(
        next_attempt_at=bindparam("o_retry_at"),
        claimed_until=None,
        last_error=bindparam("o_error"),
    ),
}


def record(store: Store, now: float, outcomes: Sequence[Outcome]) -> None:
    """Every outcome and its attempt row in one transaction (all or none)."""
    if not outcomes:
        return
    by_result: dict[Result, list[dict[str, Any]]] = {}
    attempts = []
    for o in outcomes:
        by_result.setdefault(o.result, []).append(
            {"o_id": o.notification_id, "o_now": now, "o_retry_at": o.retry_at, "o_error": o.error}
        )
        if o.result is not Result.POSTPONED:
            attempts.append(
                {
                    "notification_id": o.notification_id,
                    "ts": now,
                    "channel": o.channel,
                    "outcome": o.result.value,
                    "error": o.error,
                    "duration_ms": o.duration_ms,
                }
            )

    def work(c: Connection) -> None:
        for result, params in by_result.items():
            c.execute(_UPDATES[result], params)
        if attempts:
            c.execute(insert(notification_attempts), attempts)

    store.run(work)
