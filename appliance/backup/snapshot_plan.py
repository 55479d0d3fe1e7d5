"""Pure snapshot decisions: given now, a dataset's policy and its snapshots, what to take and
what to destroy. No I/O and no clock: the runner passes `now` in, tests inject it.

Names follow sanoid: `autosnap_2026-11-28_18:45:00_hourly` (UTC here). Only snapshots named so
are ours; any other snapshot is never destroyed. Retention is sanoid's: a snapshot of a period
is destroyed when it is older than count times its period AND more than count of that period remain,
oldest first; so a host that was off for a month still keeps its last `count` dailies.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from appliance.backup.policy import PERIODS, Period, SnapshotPolicy

PREFIX = "autosnap_"
_NAME_RE = re.compile(
    r"^autosnap_(\d{4}-\d{2}-\d{2}_\d{2}:\d{2}:\d{2})_(frequently|hourly|daily|weekly|monthly|yearly)$"
)
_STAMP = "%Y-%m-%d_%H:%M:%S"
# sanoid's period lengths (a month is 31 days, a year 365.25).
_FIXED_SECONDS: dict[str, float] = {
    "hourly": 3600,
    "daily": 86400,
    "weekly": 7 * 86400,
    "monthly": 31 * 86400,
    "yearly": 365.25 * 86400,
}


@dataclass(frozen=True, order=True)
class Snapshot:
    """One existing snapshot as the listing reports it (creation time in UTC)."""

    dataset: str
    name: str  # the part after `@`
    created: datetime

    @property
    def full_name(self) -> str:
        return f"{self.dataset}@{self.name}"


@dataclass(frozen=True)
class SnapshotPlan:
    dataset: str
    take: tuple[str, ...]  # snapshot names (after `@`) to take now, at one timestamp
    destroy: tuple[str, ...]  # our expired snapshots, oldest first
    recursive: bool


def snapshot_name(taken: datetime, period: Period) -> str:
    return f"{PREFIX}{taken.astimezone(UTC).strftime(_STAMP)}_{period}"


@lru_cache(maxsize=4096)  # names repeat run after run; strptime is slow
def parse_autosnap(name: str) -> tuple[datetime, Period] | None:
    """(time taken, period) of one of our snapshot names; None for any other name."""
    match = _NAME_RE.match(name)
    if not match:
        return None
    try:
        taken = datetime.strptime(match.group(1), _STAMP).replace(tzinfo=UTC)
    except ValueError:  # e.g. month 13: not a name we wrote
        return None
    period: Period = match.group(2)  # type: ignore[assignment]  # the regex allows only these
    return taken, period


def period_length(policy: SnapshotPolicy, period: Period) -> timedelta:
    if period == "frequently":
        return timedelta(minutes=policy.frequent_period)
    return timedelta(seconds=_FIXED_SECONDS[period])


def last_slot(policy: SnapshotPolicy, period: Period, now: datetime) -> datetime:
    """The latest preferred time of a period at or before now (sanoid's defaults, in UTC)."""
    now = now.astimezone(UTC)
    minute = now.replace(second=0, microsecond=0)
    if period == "frequently":
        step = policy.frequent_period
        return minute.replace(minute=now.minute // step * step)
    if period == "hourly":
        return minute.replace(minute=0)
    if period == "daily":  # 23:59: a daily holds everything done during that day
        slot = minute.replace(hour=23, minute=59)
        return slot if slot <= now else slot - timedelta(days=1)
    if period == "weekly":  # Monday 23:30
        monday = minute.replace(hour=23, minute=30) - timedelta(days=now.weekday())
        return monday if monday <= now else monday - timedelta(days=7)
    if period == "monthly":
        return minute.replace(day=1, hour=0, minute=0)
    return minute.replace(month=1, day=1, hour=0, minute=0)


def _ours(snapshots: Iterable[Snapshot]) -> dict[Period, list[tuple[datetime, Snapshot]]]:
    """Our snapshots by period, newest first (by the time in the name, then the name)."""
    found: dict[Period, list[tuple[datetime, Snapshot]]] = {p: [] for p in PERIODS}
    for snap in snapshots:
        parsed = parse_autosnap(snap.name)
        if parsed is not None:
            found[parsed[1]].append((parsed[0], snap))
    for entries in found.values():
        entries.sort(key=lambda e: (e[0], e[1].name), reverse=True)
    return found


def newest_snapshot(snapshots: Iterable[Snapshot]) -> Snapshot | None:
    """The dataset's most recent snapshot by creation (whoever took it)."""
    return max(snapshots, key=lambda s: (s.created, s.name), default=None)


def plan_dataset(
    dataset: str,
    policy: SnapshotPolicy,
    snapshots: Iterable[Snapshot],
    now: datetime,
    protected: frozenset[str] = frozenset(),
) -> SnapshotPlan:
    """What to take and destroy on one dataset now.

    `snapshots` are the dataset's own (others are ignored); `protected` holds full names
    (`pool/ds@name`) that must stay, e.g. the base replication still needs. Pruning counts
    the snapshots taken in this run, so a second plan at the same moment has nothing to do.
    """
    own = [s for s in snapshots if s.dataset == dataset]
    ours = _ours(own)
    take: list[str] = []
    if policy.autosnap:
        for period in PERIODS:
            if policy.count(period) == 0:
                continue
            slot = last_slot(policy, period, now)
            if not any(taken >= slot for taken, _ in ours[period]):
                take.append(snapshot_name(now, period))
    destroy: list[Snapshot] = []
    if policy.autoprune:
        # As after the takes (the runner prunes only once they succeeded): the new snapshots
        # count among the newest of their period, and one of them is the dataset's newest.
        after = own + [Snapshot(dataset, name, now) for name in take]
        newest = newest_snapshot(after)
        ours = _ours(after)
        for period in PERIODS:
            keep = policy.count(period)
            oldest_kept = now - keep * period_length(policy, period)
            for taken, snap in ours[period][keep:]:
                if taken >= oldest_kept or snap == newest or snap.full_name in protected:
                    continue
                destroy.append(snap)
    destroy.sort(key=lambda s: (parse_autosnap(s.name) or (s.created, ""))[0])
    return SnapshotPlan(dataset, tuple(take), tuple(s.name for s in destroy), policy.recursive)
