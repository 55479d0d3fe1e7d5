from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from appliance.events.outbox import ForwarderLock, Outbox


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def outbox(tmp_path: Path, clock: Clock) -> Outbox:
    return Outbox(tmp_path / "o.db", clock=clock)


def test_wal_mode_and_rows_visible_to_another_connection(outbox: Outbox) -> None:
    outbox.append("e1", "t", "k", b"body")
    other = sqlite3.connect(outbox.path)
    assert other.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert other.execute("SELECT event_id, status FROM outbox").fetchall() == [("e1", 0)]


def test_pending_in_seq_order_after_high_water_mark(outbox: Outbox) -> None:
    seqs = [outbox.append(f"e{i}", "t", "k", b"x") for i in range(5)]
    assert [r.event_id for r in outbox.pending(0, 10)] == [f"e{i}" for i in range(5)]
    assert [r.seq for r in outbox.pending(seqs[1], 2)] == seqs[2:4]


def test_delivered_and_dead_rows_leave_the_backlog(outbox: Outbox, clock: Clock) -> None:
    a = outbox.append("a", "t", None, b"x")
    clock.now += 5
    b = outbox.append("b", "t", None, b"x")
    c = outbox.append("c", "t", None, b"x")
    assert outbox.backlog().pending == 3
    assert outbox.backlog().oldest_pending_created_at == 1000.0
    outbox.mark_delivered([a])
    outbox.mark_dead(b, "MSG_SIZE_TOO_LARGE")
    backlog = outbox.backlog()
    assert (backlog.pending, backlog.dead, backlog.oldest_pending_created_at) == (1, 1, 1005.0)
    assert [r.seq for r in outbox.pending(0, 10)] == [c]


def test_duplicate_event_id_is_refused(outbox: Outbox) -> None:
    outbox.append("same", "t", None, b"x")
    with pytest.raises(sqlite3.IntegrityError):
        outbox.append("same", "t", None, b"x")


def test_prune_only_old_delivered_rows(outbox: Outbox, clock: Clock) -> None:
    old = outbox.append("old", "t", None, b"x")
    outbox.append("pending", "t", None, b"x")
    outbox.mark_delivered([old])
    clock.now += 100
    assert outbox.prune_delivered(older_than_s=200) == 0
    assert outbox.prune_delivered(older_than_s=50) == 1
    assert outbox.backlog().pending == 1


def test_inbox_window_keeps_the_newest_ids_per_group(outbox: Outbox) -> None:
    for i in range(10):
        outbox.remember("g", f"e{i}")
    outbox.remember("other", "e0")
    assert outbox.trim_inbox("g", keep=3) == 7
    assert [outbox.seen("g", f"e{i}") for i in (0, 6, 7, 9)] == [False, False, True, True]
    assert outbox.seen("other", "e0")


def test_survives_reopen(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.db") as first:
        first.append("e1", "t", "k", b"x")
    with Outbox(tmp_path / "o.db") as second:
        assert [r.event_id for r in second.pending(0, 10)] == ["e1"]


def test_one_forwarder_per_outbox(tmp_path: Path) -> None:
    first, second = ForwarderLock(tmp_path / "o.db"), ForwarderLock(tmp_path / "o.db")
    assert first.try_acquire()
    assert not second.try_acquire()
    first.release()
    assert second.try_acquire()
    second.release()
