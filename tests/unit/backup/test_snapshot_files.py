"""Raft snapshot file names and retention (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from appliance.backup.snapshot_files import expired, snapshot_name, taken_at


def test_name_round_trips_in_utc() -> None:
    taken = datetime(2026, 11, 28, 21, 5, 7, tzinfo=UTC)
    assert snapshot_name(taken) == "raft-20261128T210507Z.snap"
    assert taken_at(snapshot_name(taken)) == taken
    assert taken_at("raft-latest.snap") is None


def test_keeps_the_newest_and_ignores_other_files() -> None:
    start = datetime(2026, 11, 1, tzinfo=UTC)
    names = [snapshot_name(start + timedelta(hours=h)) for h in range(5)]
    others = [".raft-x.partial", "notes.txt"]
    gone = expired([*reversed(names), *others], keep=2)
    assert gone == names[:3]  # oldest first, never a file that is not a snapshot
    assert expired(names, keep=10) == []
