"""The notification history: pages of notifications with their attempts (GET
/api/notifications), and a user's notifications after an id (the WebSocket stream's resume)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, select

from appliance.database.repository import Store
from appliance.database.schema import notification_attempts, notifications
from appliance.notifications.models import Attempt, Notification, Status
from appliance.notifications.rows import notification_of


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


def query(
    store: Store, query: HistoryQuery, only: int | None = None
) -> tuple[list[Notification], int | None]:
    """Newest first, each with its attempts; the page and the cursor of the next."""
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
        items = [notification_of(r, attempts[r.id]) for r in rows]
        return items, (items[-1].id if more and items else None)

    return store.run(work)


def since_id(store: Store, user_id: str, after: int, limit: int = 500) -> list[Notification]:
    """A user's notifications with an id above ``after``, oldest first (WS resume)."""
    t = notifications

    def work(c: Connection) -> list[Notification]:
        rows = c.execute(
            select(t).where(t.c.user_id == user_id, t.c.id > after).order_by(t.c.id).limit(limit)
        ).all()
        return [notification_of(r) for r in rows]

    return store.run(work)
