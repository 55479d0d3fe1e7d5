"""The ``notification_channels`` table: the channels the outbox delivers to, made by an admin
through the API or declared by the inventory (``declared``; appliance/notifications/declared.py).
The API may not change or delete a declared channel: the agent would restore it at its next
start, so it is refused (ChannelDeclared) rather than silently reverted later."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection, Row, delete, func, insert, select, update

from appliance.database.repository import Store
from appliance.database.schema import notification_channels as table
from appliance.database.schema import notifications
from appliance.notifications.channels import validate
from appliance.notifications.models import Channel, Status
from appliance.notifications.rows import channel_of


class UnknownChannel(LookupError):
    def __init__(self, name: str) -> None:
        super().__init__(f"no channel {name!r}")
        self.name = name


class ChannelExists(ValueError):
    def __init__(self, name: str) -> None:
        super().__init__(f"channel {name!r} exists")


class ChannelDeclared(ValueError):
    def __init__(self, name: str) -> None:
        super().__init__(
            f"channel {name!r} is declared in the inventory (agent.notifications.channels): "
            "change or remove it there and deploy; the agent restores it at start"
        )


def all_channels(store: Store) -> list[Channel]:
    def work(c: Connection) -> list[Channel]:
        return [channel_of(r) for r in c.execute(select(table).order_by(table.c.name))]

    return store.run(work)


def one(store: Store, name: str) -> Channel:
    def work(c: Connection) -> Row[Any] | None:
        return c.execute(select(table).where(table.c.name == name)).one_or_none()

    row = store.run(work)
    if row is None:
        raise UnknownChannel(name)
    return channel_of(row)


def put(store: Store, now: float, channel: Channel, *, create: bool) -> Channel:
    """Create (``create``: refused when it exists) or replace a channel; a declared one only
    with a declared one (ChannelDeclared)."""
    validate(channel)

    def work(c: Connection) -> Channel | Exception:
        old = c.execute(select(table).where(table.c.name == channel.name)).one_or_none()
        values = {
            "kind": channel.kind,
            "options": json.dumps(channel.options, sort_keys=True),
            "secret": channel.secret,
            "enabled": channel.enabled,
            "updated_at": now,
            "declared": channel.declared,
        }
        if old is None:
            if not create:
                return UnknownChannel(channel.name)
            c.execute(insert(table).values(name=channel.name, created_at=now, **values))
        else:
            if create:
                return ChannelExists(channel.name)
            if old.declared and not channel.declared:
                return ChannelDeclared(channel.name)
            c.execute(update(table).where(table.c.name == channel.name).values(**values))
        return channel_of(c.execute(select(table).where(table.c.name == channel.name)).one())

    # Refusals are raised here: the store reports exceptions inside it as its own.
    result = store.run(work, exclusive=True)
    if isinstance(result, Exception):
        raise result
    return result


def remove(store: Store, name: str) -> Channel:
    """Delete an API-made channel (a declared one: ChannelDeclared)."""

    def work(c: Connection) -> Channel | Exception:
        row = c.execute(select(table).where(table.c.name == name)).one_or_none()
        if row is None:
            return UnknownChannel(name)
        if row.declared:
            return ChannelDeclared(name)
        c.execute(delete(table).where(table.c.name == name))
        return channel_of(row)

    gone = store.run(work, exclusive=True)
    if isinstance(gone, Exception):
        raise gone
    return gone


#: Notifications still owed to a channel: waiting for an attempt or for quiet hours to end.
OWED = (Status.PENDING.value, Status.HELD.value)


def retire(store: Store, keep: set[str]) -> tuple[list[str], dict[str, int]]:
    """Delete the declared channels not in ``keep`` that are owed nothing; the others stay
    (as they are: they go on delivering what they owe) with the count they owe.

    One transaction, and the delete itself re-checks that nothing is owed, so a notification
    written meanwhile keeps its channel."""

    def work(c: Connection) -> tuple[list[str], dict[str, int]]:
        names = [
            str(n)
            for n in c.execute(select(table.c.name).where(table.c.declared)).scalars()
            if n not in keep
        ]
        deleted: list[str] = []
        owed: dict[str, int] = {}
        for name in sorted(names):
            owes = (notifications.c.channel == name) & notifications.c.status.in_(OWED)
            idle = ~select(notifications.c.id).where(owes).exists()
            gone = c.execute(delete(table).where(table.c.name == name, table.c.declared, idle))
            if gone.rowcount:
                deleted.append(name)
            else:
                count = select(func.count()).select_from(notifications).where(owes)
                owed[name] = int(c.execute(count).scalar_one())
        return deleted, owed

    return store.run(work, exclusive=True)
