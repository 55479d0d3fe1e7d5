"""The consumers' dedupe window and dead letters (appliance/events/inbox.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance.events.inbox import Failure, Inbox


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def inbox(tmp_path: Path, clock: Clock) -> Inbox:
    return Inbox(tmp_path / "events.db", clock=clock)


def failure(event_id: str, error: str = "RuntimeError('boom')") -> Failure:
    return Failure(event_id, "jobs", 1, 42, b'{"id": "x"}', {"traceparent": "00-a-b-01"}, 3, error)


def test_seen_is_per_group_and_recording_twice_is_harmless(inbox: Inbox) -> None:
    inbox.record("g", ["a", "b"])
    inbox.record("g", ["b", "c"])  # a redelivered batch
    inbox.record("other", ["z"])
    assert inbox.seen("g", ["a", "c", "z", "new"]) == {"a", "c"}
    assert inbox.seen("other", ["a", "z"]) == {"z"}
    assert inbox.seen("g", []) == set()


def test_seen_over_more_ids_than_one_statement_takes(inbox: Inbox) -> None:
    ids = [f"e{i}" for i in range(2500)]
    inbox.record("g", ids[::2])
    assert inbox.seen("g", ids) == set(ids[::2])


def test_window_keeps_the_newest_ids_per_group(inbox: Inbox) -> None:
    inbox.record("g", [f"e{i}" for i in range(10)])
    inbox.record("other", ["e0"])
    assert inbox.trim("g", keep=3) == 7
    assert inbox.seen("g", [f"e{i}" for i in (0, 6, 7, 9)]) == {"e7", "e9"}
    assert inbox.seen("other", ["e0"]) == {"e0"}


def test_dead_letters_are_listed_counted_and_replayed(inbox: Inbox, clock: Clock) -> None:
    inbox.record("g", ["ok", "bad"], [failure("bad")])
    assert inbox.seen("g", ["bad"]) == {"bad"}  # parked, so a redelivery does not re-run it
    [letter] = inbox.dead_letters()
    assert (letter.group_id, letter.event_id, letter.topic) == ("g", "bad", "jobs")
    assert (letter.partition, letter.offset, letter.attempts) == (1, 42, 3)
    assert letter.headers == {"traceparent": "00-a-b-01"}
    assert letter.error == "RuntimeError('boom')" and letter.failed_at == 1000.0
    assert inbox.dead_letter_count() == 1
    assert inbox.dead_letters("other") == []

    clock.now += 5
    inbox.replayed(letter.id, "RuntimeError('still')")
    again = inbox.dead_letter(letter.id)
    assert again is not None and (again.attempts, again.error) == (4, "RuntimeError('still')")
    inbox.replayed(letter.id, None)
    assert inbox.dead_letter_count() == 0 and inbox.dead_letters() == []
    [done] = inbox.dead_letters(include_replayed=True)
    assert done.replayed_at == 1005.0
    assert inbox.dead_letter(999) is None


def test_dead_letters_survive_reopen(tmp_path: Path) -> None:
    first = Inbox(tmp_path / "events.db")
    first.record("g", ["bad"], [failure("bad")])
    first.close()
    second = Inbox(tmp_path / "events.db")
    assert [d.event_id for d in second.dead_letters()] == ["bad"]
    second.close()
