"""The replication plan on snapshot listings: full, incremental, current, and the refusals
that keep the backup host's data from ever being rolled back or overwritten."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from appliance.backup.replication_plan import Send, plan_replication
from appliance.backup.snapshot_plan import Snapshot

T0 = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
DS = "tank/nextcloud"


def snaps(*names: str) -> list[Snapshot]:
    return [Snapshot(DS, name, T0 + timedelta(minutes=15 * i)) for i, name in enumerate(names)]


def test_first_run_sends_the_oldest_in_full_then_everything_since() -> None:
    step = plan_replication(DS, list(reversed(snaps("a", "b", "c"))), None)
    assert step.kind == "full"
    assert step.sends == (Send(DS, "a"), Send(DS, "c", "a"))
    assert [s.argv() for s in step.sends] == [
        ["zfs", "send", f"{DS}@a"],
        ["zfs", "send", "-I", f"{DS}@a", f"{DS}@c"],
    ]
    assert step.newest == "c"


def test_a_single_snapshot_is_one_full_send() -> None:
    assert plan_replication(DS, snaps("a"), None).sends == (Send(DS, "a"),)


def test_incremental_from_the_newest_common_snapshot() -> None:
    # The source pruned a; the replica keeps it (its retention is its own).
    step = plan_replication(DS, snaps("b", "c", "d", "e"), ["a", "b", "c"])
    assert step.kind == "incremental"
    assert step.sends == (Send(DS, "e", "c"),)


def test_current_replica_sends_nothing() -> None:
    step = plan_replication(DS, snaps("a", "b"), ["a", "b"])
    assert (step.kind, step.sends, step.newest) == ("current", (), "b")


def test_no_snapshot_yet() -> None:
    assert plan_replication(DS, [], None).kind == "nothing"


def test_a_replica_that_moved_on_is_refused() -> None:
    step = plan_replication(DS, snaps("a", "b", "c"), ["a", "b", "x"])
    assert step.kind == "refused" and not step.sends
    assert "newer than the last one in common (b)" in step.reason and "x" in step.reason


def test_a_replica_with_nothing_in_common_is_refused() -> None:
    step = plan_replication(DS, snaps("c", "d"), ["a", "b"])
    assert step.kind == "refused" and "no snapshot in common" in step.reason
    empty = plan_replication(DS, snaps("c"), [])
    assert empty.kind == "refused" and "holds no snapshot" in empty.reason
