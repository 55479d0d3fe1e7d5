"""Per-user preferences: which channels, to which address, from which severity, and quiet
hours (non-critical notifications are held until they end). ``notify`` without a channel
follows them; with one, only the address is taken from them when ``to`` is missing."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, select
from sqlalchemy.dialects import postgresql, sqlite

from appliance.database.repository import Store
from appliance.database.schema import notification_preferences as table
from appliance.notifications.models import NotifyRequest, Severity
from appliance.notifications.outbox import Planned

HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


@dataclass(frozen=True, slots=True)
class Preference:
    user_id: str
    channel: str
    enabled: bool = True
    address: str | None = None
    min_severity: Severity = Severity.INFO
    quiet_start: str | None = None
    quiet_end: str | None = None
    timezone: str = "UTC"
    updated_at: float = 0.0


def quiet_until(pref: Preference, now: float) -> float | None:
    """When the quiet hours ``now`` falls in end (Unix time), or None outside them. A window
    may wrap midnight (22:00 to 07:00); start == end is no quiet hours."""
    if not pref.quiet_start or not pref.quiet_end or pref.quiet_start == pref.quiet_end:
        return None
    zone = ZoneInfo(pref.timezone)
    local = datetime.fromtimestamp(now, zone)
    sh, sm = map(int, pref.quiet_start.split(":"))
    eh, em = map(int, pref.quiet_end.split(":"))
    minute = local.hour * 60 + local.minute
    start, end = sh * 60 + sm, eh * 60 + em
    inside = start <= minute < end if start < end else (minute >= start or minute < end)
    if not inside:
        return None
    ends = local.replace(hour=eh, minute=em, second=0, microsecond=0)
    if ends <= local:
        ends += timedelta(days=1)
    return ends.timestamp()


def plan(
    request: NotifyRequest, preferences: list[Preference], channels: set[str], now: float
) -> list[Planned]:
    """The channels a notification without an explicit channel goes to."""
    planned = []
    for pref in preferences:
        if not pref.enabled or pref.channel not in channels:
            continue
        if request.severity.rank < pref.min_severity.rank:
            continue
        held = None if request.severity is Severity.CRITICAL else quiet_until(pref, now)
        planned.append(Planned(pref.channel, request.to or pref.address, held))
    return planned


class Preferences:
    def __init__(self, store: Store, clock: Callable[[], float]) -> None:
        self._store = store
        self._clock = clock

    def of(self, user_id: str) -> list[Preference]:
        def work(c: Connection) -> list[Preference]:
            rows = c.execute(
                select(table).where(table.c.user_id == user_id).order_by(table.c.channel)
            )
            return [
                Preference(
                    r.user_id,
                    r.channel,
                    bool(r.enabled),
                    r.address,
                    Severity(r.min_severity),
                    r.quiet_start,
                    r.quiet_end,
                    r.timezone,
                    r.updated_at,
                )
                for r in rows
            ]

        return self._store.run(work)

    def put(self, pref: Preference) -> Preference:
        """Create or replace the user's preference for that channel."""
        ZoneInfo(pref.timezone)  # ZoneInfoNotFoundError (a KeyError) for an unknown zone
        for value in (pref.quiet_start, pref.quiet_end):
            if value is not None and not HHMM.match(value):
                raise ValueError(f"quiet hours are HH:MM, not {value!r}")
        values = {
            "user_id": pref.user_id,
            "channel": pref.channel,
            "enabled": pref.enabled,
            "address": pref.address,
            "min_severity": pref.min_severity.value,
            "quiet_start": pref.quiet_start,
            "quiet_end": pref.quiet_end,
            "timezone": pref.timezone,
            "updated_at": self._clock(),
        }

        def work(c: Connection) -> None:
            dialect = postgresql if c.dialect.name == "postgresql" else sqlite
            statement = dialect.insert(table).values(**values)
            c.execute(
                statement.on_conflict_do_update(
                    index_elements=["user_id", "channel"],
                    set_={k: v for k, v in values.items() if k not in ("user_id", "channel")},
                )
            )

        self._store.run(work)
        return Preference(**{**values, "min_severity": pref.min_severity})  # type: ignore[arg-type]
