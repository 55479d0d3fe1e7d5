"""The notification outbox in the agent's database: channels, notify (written before the
caller hears back), claims and attempts for the worker, and the history.

A notification is one row per channel it goes to. ``notify`` with an idempotency key stores it
as ``KEY:0``, ``KEY:1``… on its rows, unique per caller, so a client's retry collides with the
first call's first row whatever channels it plans, and gets the rows the first call made
instead of new ones.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import Boolean, Connection, Text, and_, bindparam, case, insert, select
from sqlalchemy.exc import IntegrityError

from appliance.database.repository import Store
from appliance.database.schema import (
    notification_channels,
    notification_preferences,
    notifications,
)
from appliance.notifications import channelstore, claims, history
from appliance.notifications.channelstore import ChannelDeclared as ChannelDeclared
from appliance.notifications.channelstore import ChannelExists as ChannelExists
from appliance.notifications.channelstore import UnknownChannel as UnknownChannel
from appliance.notifications.claims import Claimed, Outcome, Result
from appliance.notifications.history import HistoryQuery as HistoryQuery
from appliance.notifications.models import Channel, Notification, NotifyRequest, Status
from appliance.notifications.rows import notification_from

#: notify's statements, built once (SQLAlchemy then reuses their compiled form).
_CHANNELS = select(notification_channels.c.name).where(
    notification_channels.c.name.in_(bindparam("names", expanding=True))
)
_CHANNELS_AND_ADDRESSES = (
    select(notification_channels.c.name, notification_preferences.c.address)
    .select_from(
        notification_channels.outerjoin(
            notification_preferences,
            and_(
                notification_preferences.c.channel == notification_channels.c.name,
                notification_preferences.c.user_id == bindparam("user"),
            ),
        )
    )
    .where(notification_channels.c.name.in_(bindparam("names", expanding=True)))
)
_INSERT_MANY = insert(notifications).returning(notifications.c.id, sort_by_parameter_order=True)


#: One row to one channel (notify's usual case) in one statement: inserted only if the channel
#: exists (no row back: it does not), its recipient ``to`` or, with ``:preferred``, the user's
#: address for the channel; instead of a look-up of the channel, then the insert.
_ONE_COLUMNS = [
    *("idempotency_key", "created_by", "user_id", "type", "channel", "severity", "template"),
    *("subject", "message", "data", "status", "created_at", "next_attempt_at", "attempt_count"),
]
_ONE_ADDRESS = (
    select(notification_preferences.c.address)
    .where(
        notification_preferences.c.user_id == bindparam("user_id"),
        notification_preferences.c.channel == notification_channels.c.name,
    )
    .scalar_subquery()
)
_INSERT_ONE = (
    insert(notifications)
    .from_select(
        [*_ONE_COLUMNS, "recipient"],
        select(
            *(bindparam(name, type_=notifications.c[name].type) for name in _ONE_COLUMNS),
            case(
                (bindparam("preferred", type_=Boolean), _ONE_ADDRESS),
                else_=bindparam("recipient", type_=Text),
            ),
        ).where(notification_channels.c.name == bindparam("channel")),
    )
    .returning(notifications.c.id, notifications.c.recipient)
)


class NoChannel(ValueError):
    """notify without a channel, and the user's preferences name none that is on."""


@dataclass(frozen=True, slots=True)
class NotifyResult:
    ids: list[int]
    duplicate: bool


@dataclass(frozen=True, slots=True)
class Planned:
    """One row notify will write: the channel it goes to and when it may first be sent."""

    channel: str
    recipient: str | None
    not_before: float | None = None
    #: With no recipient: the user's address for this channel in their preferences (if
    #: any), read in notify's own transaction rather than in one of its own before it.
    preferred: bool = False


class Outbox:
    def __init__(self, store: Store, clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._clock = clock
        #: Called after notify wrote rows (the worker's wake-up).
        self.on_write: Callable[[], None] | None = None
        #: Called with the user and the rows notify wrote, in id order (the real-time hub).
        self.on_notified: Callable[[str, list[Notification]], None] | None = None
        self._user_locks = [threading.Lock() for _ in range(64)]

    # Channels (channelstore.py) ------------------------------------------------------------

    def channels(self) -> list[Channel]:
        return channelstore.all_channels(self._store)

    def channel(self, name: str) -> Channel:
        return channelstore.one(self._store, name)

    def put_channel(self, channel: Channel, *, create: bool) -> Channel:
        """Create (``create``: refused when it exists) or replace a channel; a declared one
        only with a declared one (ChannelDeclared: the inventory's are not the API's)."""
        return channelstore.put(self._store, self._clock(), channel, create=create)

    def delete_channel(self, name: str) -> Channel:
        """Remove an API-made channel (a declared one: ChannelDeclared)."""
        return channelstore.remove(self._store, name)

    def retire_channels(self, keep: set[str]) -> tuple[list[str], dict[str, int]]:
        """Delete the declared channels not in ``keep`` owed nothing (channelstore.retire)."""
        return channelstore.retire(self._store, keep)

    # Notify ---------------------------------------------------------------------------------

    def notify(
        self,
        request: NotifyRequest,
        plan: Sequence[Planned],
        *,
        created_by: str,
        idempotency_key: str | None = None,
        also: Callable[[Connection], object] | None = None,
    ) -> NotifyResult:
        """Write one row per planned channel in one transaction, committed before returning;
        UnknownChannel (nothing written) when a planned channel is not there. A retry with
        ``idempotency_key`` meets the unique constraint and answers with the first call's rows
        (no look-up before the insert: the constraint is the check).

        ``also`` runs last in the same transaction when rows are written (the caller's audit
        record: the notification and the record of who made it commit together); it does not
        run for a duplicate (``duplicate`` in the result) nor for an unknown channel."""
        if not plan:
            raise NoChannel("no channel to send to")
        now = self._clock()
        rows = []
        for index, item in enumerate(plan):
            held = item.not_before is not None and item.not_before > now
            rows.append(
                {
                    "idempotency_key": None
                    if idempotency_key is None
                    else f"{idempotency_key}:{index}",
                    "created_by": created_by,
                    "user_id": request.user_id,
                    "type": request.type,
                    "channel": item.channel,
                    "recipient": item.recipient,
                    "severity": request.severity.value,
                    "template": request.template,
                    "subject": request.subject,
                    "message": request.message,
                    "data": json.dumps(request.data, sort_keys=True),
                    "status": (Status.HELD if held else Status.PENDING).value,
                    "created_at": now,
                    "next_attempt_at": item.not_before if held else now,
                    "attempt_count": 0,
                }
            )
        names = sorted({item.channel for item in plan})

        preferred = any(item.preferred and item.recipient is None for item in plan)

        def work(c: Connection) -> list[Notification] | UnknownChannel:
            if len(rows) == 1:
                return one(c)
            # The channels' existence and, when asked, the user's addresses: one statement.
            if preferred:
                found = c.execute(
                    _CHANNELS_AND_ADDRESSES, {"names": names, "user": request.user_id}
                )
                addresses = {str(n): a for n, a in found}
            else:
                addresses = dict.fromkeys(c.execute(_CHANNELS, {"names": names}).scalars())
            missing = [name for name in names if name not in addresses]
            if missing:
                return UnknownChannel(missing[0])
            for row, item in zip(rows, plan, strict=True):
                if item.preferred and row["recipient"] is None:
                    row["recipient"] = addresses[item.channel]
            ids = list(c.execute(_INSERT_MANY, rows).scalars().all())
            if also is not None:
                also(c)
            return [notification_from({**row, "id": i}) for row, i in zip(rows, ids, strict=True)]

        def one(c: Connection) -> list[Notification] | UnknownChannel:
            row = rows[0]
            ask = plan[0].preferred and row["recipient"] is None
            written = c.execute(_INSERT_ONE, {**row, "preferred": ask}).first()
            if written is None:
                return UnknownChannel(plan[0].channel)
            if also is not None:
                also(c)
            return [notification_from({**row, "id": written.id, "recipient": written.recipient})]

        def existing(c: Connection) -> list[int]:
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
            return [int(i) for i in c.execute(query).scalars()]

        # One user's rows are numbered, committed and announced to the hub in one order: the
        # WebSocket stream resumes from the last id a client saw, so a later id must never be
        # visible (or pushed) before an earlier one of the same user.
        with self._user_locks[hash(request.user_id) % len(self._user_locks)]:
            try:
                written = self._store.run(work, exclusive=True)
            except Exception as exc:
                if idempotency_key is None or not isinstance(exc.__cause__, IntegrityError):
                    raise
                return NotifyResult(self._store.run(existing), True)
            if isinstance(written, UnknownChannel):
                raise written
            if self.on_notified is not None:
                self.on_notified(request.user_id, written)
        if self.on_write is not None:
            self.on_write()
        return NotifyResult([n.id for n in written], False)

    # The worker's side (claims.py) --------------------------------------------------------

    def release_claims(self) -> int:
        """Forget every claim (at worker start: the one worker that held them is gone)."""
        return claims.release(self._store)

    def claim_due(self, limit: int, lease_s: float) -> Claimed:
        """Due notifications leased for ``lease_s``, with their channels."""
        return claims.claim(self._store, self._clock(), limit, lease_s)

    def claim(self, limit: int, lease_s: float) -> list[Notification]:
        return self.claim_due(limit, lease_s).items

    def record(self, outcomes: Sequence[Outcome]) -> None:
        claims.record(self._store, self._clock(), outcomes)

    def delivered(self, nid: int, channel: str, duration_ms: float) -> None:
        self.record([Outcome(nid, channel, Result.DELIVERED, duration_ms=duration_ms)])

    # History --------------------------------------------------------------------------------

    def get(self, nid: int) -> Notification | None:
        items, _ = history.query(self._store, HistoryQuery(limit=1), only=nid)
        return items[0] if items else None

    def history(self, query: HistoryQuery) -> tuple[list[Notification], int | None]:
        return history.query(self._store, query)

    def since_id(self, user_id: str, after: int, limit: int = 500) -> list[Notification]:
        """A user's notifications with an id above ``after``, oldest first (WS resume)."""
        return history.since_id(self._store, user_id, after, limit)
