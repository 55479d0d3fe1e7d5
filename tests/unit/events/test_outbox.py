from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from appliance.events.outbox import ForwarderLock, Outbox, write_lock
from tests.support import wait_until


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


def test_concurrent_appends_share_commits_and_all_land(outbox: Outbox) -> None:
    """Group commit: 32 publishers, 640 rows, fewer transactions than rows, none lost."""
    seqs: dict[str, int] = {}
    lock = threading.Lock()

    def publisher(t: int) -> None:
        for i in range(20):
            seq = outbox.append(f"e{t}-{i}", "t", f"k{t}", b"x")
            with lock:
                seqs[f"e{t}-{i}"] = seq

    threads = [threading.Thread(target=publisher, args=(t,)) for t in range(32)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(seqs.values())) == 640
    assert outbox.commits < 640
    other = sqlite3.connect(outbox.path)
    # Each append returned its own row's seq (a group's are worked out, not read back).
    assert dict(other.execute("SELECT event_id, seq FROM outbox").fetchall()) == seqs
    # Each publisher's rows are in its own order (per-key order rests on this).
    rows = outbox.pending(0, 1000)
    for t in range(32):
        mine = [r.event_id for r in rows if r.key == f"k{t}"]
        assert mine == [f"e{t}-{i}" for i in range(20)]


def test_a_duplicate_fails_alone_in_its_group(outbox: Outbox) -> None:
    outbox.append("dup", "t", None, b"x")
    results: dict[str, object] = {}

    def publish(event_id: str) -> None:
        try:
            results[event_id] = outbox.append(event_id, "t", None, b"x")
        except sqlite3.IntegrityError as exc:
            results[event_id] = exc

    before = outbox.commits
    # Hold the file's write lock: the writer blocks on its first row, the next queue behind.
    with write_lock(outbox.path):
        first = threading.Thread(target=publish, args=("a",))
        first.start()  # the writer takes it and waits for the lock
        wait_until(lambda: outbox.taken == before + 1, 5, "the writer holding a")
        threads = [threading.Thread(target=publish, args=(e,)) for e in ("dup", "b")]
        for thread in threads:
            thread.start()
        wait_until(lambda: outbox.queued == 2, 5, "dup and b queued")
    threads.append(first)
    for thread in threads:
        thread.join(10)
    assert isinstance(results["dup"], sqlite3.IntegrityError)
    assert isinstance(results["a"], int) and isinstance(results["b"], int)
    assert outbox.commits - before == 2  # "a" alone, then "dup" and "b" together
    stored = {r.event_id: r.seq for r in outbox.pending(0, 10)}
    assert (stored["a"], stored["b"]) == (results["a"], results["b"])
    assert sorted(r.event_id for r in outbox.pending(0, 10)) == ["a", "b", "dup"]


def test_headers_round_trip_and_an_old_outbox_file_gains_the_column(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    old = sqlite3.connect(path)
    old.executescript(
        "CREATE TABLE outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT NOT NULL "
        "UNIQUE, topic TEXT NOT NULL, key TEXT, body BLOB NOT NULL, created_at REAL NOT NULL, "
        "status INTEGER NOT NULL DEFAULT 0, attempts INTEGER NOT NULL DEFAULT 0, "
        "delivered_at REAL, last_error TEXT);"
        "INSERT INTO outbox (event_id, topic, body, created_at) VALUES ('old', 't', 'x', 1);"
    )
    old.commit()
    old.close()
    with Outbox(path) as outbox:
        outbox.append("new", "t", None, b"x", {"traceparent": "00-abc-def-01"})
        rows = outbox.pending(0, 10)
    assert [(r.event_id, r.headers) for r in rows] == [
        ("old", {}),
        ("new", {"traceparent": "00-abc-def-01"}),
    ]


PUBLISHER = """
import sys, threading
from pathlib import Path
from appliance.events.outbox import Outbox
outbox = Outbox(Path(sys.argv[1]), synchronous="FULL")
lock = threading.Lock()
def publish(t):
    for i in range(100000):
        outbox.append(f"{t}-{i}", "t", str(t), b"x" * 200)
        with lock:  # acknowledged: only now may anyone rely on it
            print(f"{t}-{i}", flush=True)
for t in range(8):
    threading.Thread(target=publish, args=(t,)).start()
"""


def test_kill_9_loses_no_acknowledged_append(tmp_path: Path) -> None:
    path = tmp_path / "o.db"
    proc = subprocess.Popen(
        [sys.executable, "-c", PUBLISHER, str(path)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    acknowledged = [proc.stdout.readline().strip() for _ in range(500)]
    proc.send_signal(signal.SIGKILL)  # mid-commit, most likely: 8 publishers never pause
    acknowledged += [line.strip() for line in proc.stdout]  # printed before the kill
    proc.wait(10)
    with Outbox(path) as reopened:
        stored = {r.event_id for r in reopened.pending(0, 1_000_000)}
    assert set(acknowledged) <= stored


def test_append_many_is_one_commit_all_or_none(outbox: Outbox) -> None:
    before = outbox.commits
    seqs = outbox.append_many([(f"m{i}", "t", "k", b"x", None) for i in range(100)])
    assert outbox.commits == before + 1 and seqs == sorted(seqs) and len(set(seqs)) == 100
    assert [r.seq for r in outbox.pending(0, 1000) if r.event_id.startswith("m")] == seqs
    with pytest.raises(sqlite3.IntegrityError):
        outbox.append_many([("fresh", "t", None, b"x", None), ("m5", "t", None, b"x", None)])
    assert "fresh" not in {r.event_id for r in outbox.pending(0, 1000)}
    outbox.append_many([("fresh", "t", None, b"x", {"traceparent": "00-a-b-01"})])
    [row] = [r for r in outbox.pending(0, 1000) if r.event_id == "fresh"]
    assert row.headers == {"traceparent": "00-a-b-01"}
