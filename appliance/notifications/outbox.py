"""The notification outbox in the agent's database: channels, notify (written before the
caller hears back), claims and attempts for the worker, and the history.

A notification is one row per channel it goes to. ``notify`` with an idempotency key stores it
as ``KEY:CHANNEL`` per row, unique per caller, so a client's retry returns the rows the first
call made instead of new ones.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Row, and_, delete, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from appliance.database.repository import Store
from appliance.database.schema import (
    notification_attempts,
    notification_channels,
    notifications,
)
from appliance.notifications.channels import validate
from appliance.notifications.models import (
    Attempt,
    Channel,
    Notification,
    NotifyRequest,
    Severity,
    Status,
)


class UnknownChannel(LookupError):
    def __init__(self, name: str) -> None:
        super().__init__(f"no channel {name!r}")
        self.name = name


class ChannelExists(ValueError):
    def __init__(self, name: str) -> None:
        super().__init__(f"channel {name!r} exists")


class NoChannel(ValueError):
    """notify without a channel, and the user's preferences name none that is on."""


@dataclass(frozen=True, slots=True)
class NotifyResult:
    ids: list[int]
    duplicate: bool


@dataclass(frozen=True, slots=True)
class HistoryQuery:
    user_id: str | None = None
    channel: str | None = None
    status: Status | None = None
    since: float | None = None
    until: float | None = None
    #: Rows with an id below this one (the previous page's ``next_cursor``).
    cursor: int | None = None
    limit: int = 100


@dataclass(frozen=True, slots=True)
class Planned:
    """One row notify will write: the channel it goes to and when it may first be sent."""

    channel: str
    recipient: str | None
    not_before: float | None = None


def _channel(row: Row[Any]) -> Channel:
    return Channel(
        name=row.name,
        kind=row.kind,
        options=json.loads(row.options),
        secret=row.secret,
        enabled=bool(row.enabled),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _notification(row: Row[Any], attempts: Sequence[Attempt] = ()) -> Notification:
    return Notification(
        id=row.id,
        user_id=row.user_id,
        type=row.type,
        channel=row.channel,
        recipient=row.recipient,
        severity=Severity(row.severity),
        subject=row.subject,
        message=row.message,
        status=Status(row.status),
        created_at=row.created_at,
        next_attempt_at=row.next_attempt_at,
        attempt_count=row.attempt_count,
        delivered_at=row.delivered_at,
        last_error=row.last_error,
        created_by=row.created_by,
        template=row.template,
        data=json.loads(row.data),
        attempts=tuple(attempts),
    )


class Outbox:
    def __init__(self, store: Store, clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._clock = clock
        #: Called after notify wrote rows (the worker's wake-up).
        self.on_write: Callable[[], None] | None = None
        #: Called with the user and the ids notify wrote (the real-time hub).
        self.on_notified: Callable[[str, list[int]], None] | None = None

    # Channels -------------------------------------------------------------------------------

    def channels(self) -> list[Channel]:
        def work(c: Connection) -> list[Channel]:
            rows = c.execute(select(notification_channels).order_by(notification_channels.c.name))
            return [_channel(r) for r in rows]

        return self._store.run(work)

    def channel(self, name: str) -> Channel:
        def work(c: Connection) -> Row[Any] | None:
            query = select(notification_channels).where(notification_channels.c.name == name)
            return c.execute(query).one_or_none()

        row = self._store.run(work)
        if row is None:
            raise UnknownChannel(name)
        return _channel(row)

    def put_channel(self, channel: Channel, *, create: bool) -> Channel:
        """Create (``create``: refused when it exists) or replace a channel."""
        validate(channel)
        now = self._clock()

        def work(c: Connection) -> Channel | Exception:
            table = notification_channels
            old = c.execute(select(table).where(table.c.name == channel.name)).one_or_none()
            values = {
                "kind": channel.kind,
                "options": json.dumps(channel.options, sort_keys=True),
                "secret": channel.secret,
                "enabled": channel.enabled,
                "updated_at": now,
            }
            if old is None:
                if not create:
                    return UnknownChannel(channel.name)
                c.execute(insert(table).values(name=channel.name, created_at=now, **values))
            else:
                if create:
                    return ChannelExists(channel.name)
                c.execute(update(table).where(table.c.name == channel.name).values(**values))
            row = c.execute(select(table).where(table.c.name == channel.name)).one()
            return _channel(row)

        # Refusals are raised here: the store reports exceptions inside it as its own.
        result = self._store.run(work, exclusive=True)
        if isinstance(result, Exception):
            raise result
        return result

    def delete_channel(self, name: str) -> Channel:
        def work(c: Connection) -> Channel | None:
            table = notification_channels
            row = c.execute(select(table).where(table.c.name == name)).one_or_none()
            if row is None:
                return None
            c.execute(delete(table).where(table.c.name == name))
            return _channel(row)

        gone = self._store.run(work, exclusive=True)
        if gone is None:
            raise UnknownChannel(name)
        return gone

    # Notify ---------------------------------------------------------------------------------

    def notify(
        self,
        request: NotifyRequest,
        plan: Sequence[Planned],
        *,
        created_by: str,
        idempotency_key: str | None = None,
        kinds: dict[str, str] | None = None,
    ) -> NotifyResult:
        """Write one row per planned channel, in one transaction, before returning."""
        if not plan:
            raise NoChannel("no channel to send to")
        now = self._clock()

        def existing(c: Connection) -> list[int]:
            if idempotency_key is None:
                return []
            query = (
                select(notifications.c.id)
                .where(
                    notifications.c.created_by == created_by,
                    notifications.c.idempotency_key.startswith(
                        f"{idempotency_key}:", autoescape=True
                    ),
                )
                .order_by(notifications.c.id)
            )
            return [int(r.id) for r in c.execute(query)]

        def work(c: Connection) -> NotifyResult:
            known = existing(c)
            if known:
                return NotifyResult(known, True)
            ids = []
            for item in plan:
                held = item.not_before is not None and item.not_before > now
                result = c.execute(
                    insert(notifications).values(
                        idempotency_key=None
                        if idempotency_key is None
                        else f"{idempotency_key}:{item.channel}",
                        created_by=created_by,
                        user_id=request.user_id,
                        type=request.type,
                        channel=item.channel,
                        recipient=item.recipient,
                        severity=request.severity.value,
                        template=request.template,
                        subject=request.subject,
                        message=request.message,
                        data=json.dumps(request.data, sort_keys=True),
                        status=(Status.HELD if held else Status.PENDING).value,
                        created_at=now,
                        next_attempt_at=item.not_before if held else now,
                        attempt_count=0,
                    )
                )
                key = result.inserted_primary_key
                assert key is not None
                ids.append(int(key[0]))
            return NotifyResult(ids, False)

        try:
            result = self._store.run(work, exclusive=True)
        except Exception as exc:
            # Two calls with one key at once on PostgreSQL: the unique constraint stopped the
            # second; it answers with the first's rows.
            if not isinstance(exc.__cause__, IntegrityError) or idempotency_key is None:
                raise
            result = NotifyResult(self._store.run(existing), True)
        if not result.duplicate and self.on_write is not None:
            self.on_write()
        if not result.duplicate and self.on_notified is not None:
            self.on_notified(request.user_id, result.ids)
        return result

    # The worker's side ----------------------------------------------------------------------

    def release_claims(self) -> int:
        """Forget every claim (at worker start: the one worker that held them is gone)."""

        def work(c: Connection) -> int:
            result = c.execute(
                update(notifications)
                .where(notifications.c.claimed_until.is_not(None))
                .values(claimed_until=None)
            )
            return int(result.rowcount or 0)

        return self._store.run(work, exclusive=True)

    def claim(self, limit: int, lease_s: float) -> list[Notification]:
        """Due notifications, oldest first, leased to the caller for ``lease_s``."""
        now = self._clock()

        def work(c: Connection) -> list[Notification]:
            due = and_(
                notifications.c.status.in_([Status.PENDING.value, Status.HELD.value]),
                notifications.c.next_attempt_at <= now,
                or_(
                    notifications.c.claimed_until.is_(None),
                    notifications.c.claimed_until < now,
                ),
            )
            query = select(notifications).where(due).order_by(notifications.c.id).limit(limit)
            if c.dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            rows = c.execute(query).all()
            if rows:
                c.execute(
                    update(notifications)
                    .where(notifications.c.id.in_([r.id for r in rows]))
                    .values(claimed_until=now + lease_s)
                )
            return [_notification(r) for r in rows]

        return self._store.run(work, exclusive=True)

    def delivered(self, nid: int, channel: str, duration_ms: float) -> None:
        now = self._clock()

        def work(c: Connection) -> None:
            c.execute(
                update(notifications)
                .where(notifications.c.id == nid)
                .values(
                    status=Status.DELIVERED.value,
                    delivered_at=now,
                    claimed_until=None,
                    last_error=None,
                    attempt_count=notifications.c.attempt_count + 1,
                )
            )
            c.execute(
                insert(notification_attempts).values(
                    notification_id=nid,
                    ts=now,
                    channel=channel,
                    outcome="delivered",
                    error=None,
                    duration_ms=duration_ms,
                )
            )

        self._store.run(work)

    def failed(
        self, nid: int, channel: str, error: str, duration_ms: float, retry_at: float | None
    ) -> None:
        """Record a failed attempt; ``retry_at`` None: dead-letter it."""
        now = self._clock()

        def work(c: Connection) -> None:
            values: dict[str, Any] = {
                "claimed_until": None,
                "last_error": error,
                "attempt_count": notifications.c.attempt_count + 1,
            }
            if retry_at is None:
                values["status"] = Status.DEAD.value
            else:
                values["status"] = Status.PENDING.value
                values["next_attempt_at"] = retry_at
            c.execute(update(notifications).where(notifications.c.id == nid).values(**values))
            c.execute(
                insert(notification_attempts).values(
                    notification_id=nid,
                    ts=now,
                    channel=channel,
                    outcome="dead" if retry_at is None else "failed",
                    error=error,
                    duration_ms=duration_ms,
                )
            )

        self._store.run(work)

    def postpone(self, nid: int, until: float, reason: str) -> None:
        """Not attempted (an open breaker): due again at ``until``, no attempt recorded."""

        def work(c: Connection) -> None:
            c.execute(
                update(notifications)
                .where(notifications.c.id == nid)
                .values(claimed_until=None, next_attempt_at=until, last_error=reason)
            )

        self._store.run(work)

    # History --------------------------------------------------------------------------------

    def get(self, nid: int) -> Notification | None:
        items, _ = self._query(HistoryQuery(limit=1), only=nid)
        return items[0] if items else None

    def history(self, query: HistoryQuery) -> tuple[list[Notification], int | None]:
        return self._query(query)

    def _query(
        self, query: HistoryQuery, only: int | None = None
    ) -> tuple[list[Notification], int | None]:
        t = notifications
        conditions = []
        if only is not None:
            conditions.append(t.c.id == only)
        if query.user_id is not None:
            conditions.append(t.c.user_id == query.user_id)
        if query.channel is not None:
            conditions.append(t.c.channel == query.channel)
        if query.status is not None:
            conditions.append(t.c.status == query.status.value)
        if query.since is not None:
            conditions.append(t.c.created_at >= query.since)
        if query.until is not None:
            conditions.append(t.c.created_at < query.until)
        if query.cursor is not None:
            conditions.append(t.c.id < query.cursor)

        def work(c: Connection) -> tuple[list[Notification], int | None]:
            rows = c.execute(
                select(t).where(*conditions).order_by(t.c.id.desc()).limit(query.limit + 1)
            ).all()
            more = len(rows) > query.limit
            rows = rows[: query.limit]
            attempts: dict[int, list[Attempt]] = {r.id: [] for r in rows}
            if rows:
                a = notification_attempts
                for r in c.execute(
                    select(a).where(a.c.notification_id.in_(list(attempts))).order_by(a.c.id)
                ):
                    attempts[r.notification_id].append(
                        Attempt(r.ts, r.channel, r.outcome, r.error, r.duration_ms)
                    )
            items = [_notification(r, attempts[r.id]) for r in rows]
            return items, (items[-1].id if more and items else None)

        return self._store.run(work)

    def since_id(self, user_id: str, after: int, limit: int = 500) -> list[Notification]:
        """A user's notifications with an id above ``after``, oldest first (WS resume)."""
        t = notifications

        def work(c: Connection) -> list[Notification]:
            rows = c.execute(
                select(t)
                .where(t.c.user_id == user_id, t.c.id > after)
                .order_by(t.c.id)
                .limit(limit)
            ).all()
            return [_notification(r) for r in rows]

        return self._store.run(work)
