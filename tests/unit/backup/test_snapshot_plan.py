"""The pure snapshot plan, with an injected clock: what is taken when, what is pruned, and what
is never touched (others' snapshots, the newest one, protected ones)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.backup.policy import PERIODS, TEMPLATES, Period, SnapshotPolicy
from appliance.backup.snapshot_plan import (
    Snapshot,
    last_slot,
    parse_autosnap,
    period_length,
    plan_dataset,
    snapshot_name,
)

DS = "tank/nextcloud"
T0 = datetime(2026, 11, 28, 18, 50, 7, tzinfo=UTC)

moments = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2035, 1, 1), timezones=st.just(UTC)
).map(lambda t: t.replace(microsecond=0))
policies = st.builds(
    SnapshotPolicy,
    frequently=st.integers(0, 6),
    frequent_period=st.sampled_from([1, 5, 10, 15, 20, 30, 60]),
    hourly=st.integers(0, 6),
    daily=st.integers(0, 6),
    weekly=st.integers(0, 3),
    monthly=st.integers(0, 3),
    yearly=st.integers(0, 2),
    autosnap=st.booleans(),
    autoprune=st.booleans(),
)


def ours(taken: datetime, period: Period, created: datetime | None = None) -> Snapshot:
    return Snapshot(DS, snapshot_name(taken, period), created or taken)


@st.composite
def histories(draw: st.DrawFn) -> tuple[datetime, list[Snapshot]]:
    """A moment and snapshots before it: ours of every period, others, a child's, a hand-made
    snapshot named like ours; creation within seconds of the name (as the runner takes them)."""
    now = draw(moments)
    snaps: list[Snapshot] = []
    for _ in range(draw(st.integers(0, 25))):
        age = timedelta(seconds=draw(st.integers(0, 3 * 365 * 86400)))
        lag = timedelta(seconds=draw(st.integers(0, 3)))
        kind = draw(st.sampled_from(["ours", "ours", "ours", "other", "child"]))
        if kind == "ours":
            snaps.append(ours(now - age, draw(st.sampled_from(PERIODS)), now - age + lag))
        elif kind == "other":
            name = draw(st.sampled_from(["manual", "before-upgrade", "autosnap_bad_hourly"]))
            snaps.append(Snapshot(DS, f"{name}-{len(snaps)}", now - age))
        else:
            snaps.append(Snapshot(f"{DS}/child", snapshot_name(now - age, "hourly"), now - age))
    return now, list({s.full_name: s for s in snaps}.values())


def apply(
    snaps: list[Snapshot], plan_take: tuple[str, ...], destroy: tuple[str, ...], now: datetime
) -> list[Snapshot]:
    kept = [s for s in snaps if not (s.dataset == DS and s.name in destroy)]
    return kept + [Snapshot(DS, name, now) for name in plan_take]


@given(moments, st.sampled_from(PERIODS))
def test_names_round_trip(moment: datetime, period: Period) -> None:
    name = snapshot_name(moment, period)
    assert name.startswith("autosnap_") and name.endswith(f"_{period}")
    assert parse_autosnap(name) == (moment, period)


def test_sanoid_name_format_and_foreign_names() -> None:
    assert snapshot_name(T0, "hourly") == "autosnap_2026-11-28_18:50:07_hourly"
    for name in [
        "manual",
        "autosnap_2026-13-01_00:00:00_hourly",  # no month 13: not a name we wrote
        "autosnap_2026-11-28_18:50:07_hourly2",
        "autosnap_2026-11-28_18:50:07_biweekly",
        "zfs-auto-snap_hourly-2026-11-28-1850",
        "syncoid_host_2026-11-28:18:50:07",
    ]:
        assert parse_autosnap(name) is None, name


@given(moments, policies, st.sampled_from(PERIODS))
def test_last_slot_is_the_latest_preferred_time(
    now: datetime, policy: SnapshotPolicy, period: Period
) -> None:
    slot = last_slot(policy, period, now)
    assert slot <= now and slot.second == 0
    bound = {"monthly": timedelta(days=31), "yearly": timedelta(days=366)}.get(
        period, period_length(policy, period)
    )
    assert now - slot < bound
    if period == "frequently":
        assert slot.minute % policy.frequent_period == 0
    if period == "daily":
        assert (slot.hour, slot.minute) == (23, 59)
    if period == "weekly":
        assert (slot.weekday(), slot.hour, slot.minute) == (0, 23, 30)


def test_first_run_takes_one_of_each_kept_period_at_one_timestamp() -> None:
    plan = plan_dataset(DS, TEMPLATES["frequent"], [], T0)
    stamp = "autosnap_2026-11-28_18:50:07"
    assert plan.take == tuple(f"{stamp}_{p}" for p in ("frequently", "hourly", "daily", "monthly"))
    assert plan.destroy == () and not plan.recursive
    assert plan_dataset(DS, TEMPLATES["backup"], [], T0).take == ()
    assert plan_dataset(DS, TEMPLATES["none"], [], T0).take == ()


def test_frequent_snapshot_beyond_its_count_and_age_is_pruned_others_stay() -> None:
    """The issue's done-when: frequently=2, three frequent snapshots: the oldest goes, a
    hand-made snapshot (older still) stays."""
    policy = SnapshotPolicy(frequently=2, hourly=0, daily=0, monthly=0)
    now = datetime(2026, 11, 28, 18, 44, tzinfo=UTC)
    snaps = [
        Snapshot(DS, "manual-before-upgrade", now - timedelta(hours=5)),
        ours(datetime(2026, 11, 28, 18, 0, 7, tzinfo=UTC), "frequently"),
        ours(datetime(2026, 11, 28, 18, 15, 7, tzinfo=UTC), "frequently"),
        ours(datetime(2026, 11, 28, 18, 30, 7, tzinfo=UTC), "frequently"),
    ]
    plan = plan_dataset(DS, policy, snaps, now)
    assert plan.destroy == ("autosnap_2026-11-28_18:00:07_frequently",)
    assert plan.take == ()  # 18:30's slot has its snapshot
    # Protected (e.g. replication's base): it stays.
    assert plan_dataset(DS, policy, snaps, now, frozenset({snaps[1].full_name})).destroy == ()
    # Exactly 2 x 15 min old: not yet older than its retention.
    assert plan_dataset(DS, policy, snaps, snaps[3].created).destroy == ()
    # At 18:46 a new one is taken, and the 18:15 one is then beyond the newest two and more
    # than 30 minutes old as well.
    later = plan_dataset(DS, policy, snaps, now + timedelta(minutes=2))
    assert later.take == ("autosnap_2026-11-28_18:46:00_frequently",)
    assert later.destroy == (snaps[1].name, snaps[2].name)


def test_the_newest_snapshot_is_never_destroyed() -> None:
    """Count 0 prunes a period's snapshots, but not the dataset's most recent snapshot."""
    policy = SnapshotPolicy(hourly=0, daily=0, monthly=0, autosnap=False)
    snaps = [ours(T0 - timedelta(days=3), "hourly"), ours(T0 - timedelta(days=2), "daily")]
    assert plan_dataset(DS, policy, snaps, T0).destroy == (snaps[0].name,)


@settings(max_examples=150, deadline=None)
@given(histories(), policies, st.data())
def test_prune_decisions_hold_for_any_history(
    history: tuple[datetime, list[Snapshot]], policy: SnapshotPolicy, data: st.DataObject
) -> None:
    now, snaps = history
    own = [s for s in snaps if s.dataset == DS]
    protected = (
        frozenset(data.draw(st.sets(st.sampled_from([s.full_name for s in own]))))
        if own
        else frozenset()
    )
    plan = plan_dataset(DS, policy, snaps, now, protected)
    destroyed = set(plan.destroy)
    # The newest after the run: one taken now, else the newest there was.
    newest = max(
        [*own, *(Snapshot(DS, n, now) for n in plan.take)],
        key=lambda s: (s.created, s.name),
        default=None,
    )
    if not policy.autoprune:
        assert not destroyed
    if not policy.autosnap:
        assert plan.take == ()
    for name in plan.destroy:
        parsed = parse_autosnap(name)
        assert parsed is not None, f"{name} is not ours"
        taken, period = parsed
        assert f"{DS}@{name}" not in protected and (newest is None or name != newest.name)
        keep = policy.count(period)
        assert taken < now - keep * period_length(policy, period)
        newer = [
            s for s in [*own, *(Snapshot(DS, n, now) for n in plan.take)]
            if (p := parse_autosnap(s.name)) and p[1] == period and p[0] > taken
            and s.name not in destroyed
        ]  # fmt: skip
        assert len(newer) >= keep, f"{name}: fewer than {keep} newer {period} snapshots kept"
    # Applying the plan leaves nothing more to do at the same moment.
    after = apply(snaps, plan.take, plan.destroy, now)
    again = plan_dataset(DS, policy, after, now, protected)
    assert again.take == () and again.destroy == ()


def test_a_month_of_runs_every_15_minutes_keeps_each_period_bounded() -> None:
    """The timer's life: every period is taken at its slot and kept at count (+1 while the
    oldest is exactly count periods old), the hand-made snapshot outlives them all."""
    policy = SnapshotPolicy(frequently=4, hourly=6, daily=3, weekly=1, monthly=1)
    snaps = [Snapshot(DS, "manual", T0)]
    now = T0
    end = T0 + timedelta(days=40)
    while now < end:
        now += timedelta(minutes=15)
        plan = plan_dataset(DS, policy, snaps, now)
        snaps = apply(snaps, plan.take, plan.destroy, now)
        by_period = {
            p: [s for s in snaps if (x := parse_autosnap(s.name)) and x[1] == p] for p in PERIODS
        }
        for period in PERIODS:
            assert len(by_period[period]) <= policy.count(period) + 1, (now, period)
        assert any(s.name == "manual" for s in snaps)
        newest_frequent = max(parse_autosnap(s.name)[0] for s in by_period["frequently"])  # type: ignore[index]
        assert now - newest_frequent < timedelta(minutes=15)
    for period in ("frequently", "hourly", "daily", "monthly"):
        assert len([s for s in snaps if s.name.endswith(f"_{period}")]) >= policy.count(period)


def test_recursive_policy_is_carried_to_the_plan() -> None:
    plan = plan_dataset(DS, SnapshotPolicy(recursive=True), [], T0)
    assert plan.recursive and plan.take
