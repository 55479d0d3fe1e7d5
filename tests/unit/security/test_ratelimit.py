"""Token buckets and the failed-authentication guard, on a clock the test moves."""

from __future__ import annotations

import pytest

from appliance.security.network import client_address, parse_networks, within
from appliance.security.ratelimit import BucketTable, FailureGuard, retry_after
from tests.unit.security.conftest import Clock


def test_a_bucket_allows_its_burst_then_refills_at_its_rate() -> None:
    clock = Clock()
    table = BucketTable(rate=2.0, burst=3, clock=clock)
    assert [table.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert table.take("a") == pytest.approx(0.5)
    assert table.take("b") == 0.0  # another key, its own bucket
    clock.advance(0.5)
    assert table.take("a") == 0.0
    assert table.take("a") == pytest.approx(0.5)
    clock.advance(100)
    assert [table.take("a") for _ in range(4)][-1] > 0  # never more than the burst


def test_tables_are_bounded_and_forget_the_idlest() -> None:
    table = BucketTable(rate=1.0, burst=1, max_keys=100, clock=Clock())
    for i in range(1000):
        table.take(f"k{i}")
    assert len(table) == 100
    assert table.take("k0") == 0.0  # forgotten: full again
    assert table.take("k999") > 0  # recent: remembered


def test_retry_after_is_whole_seconds_at_least_one() -> None:
    assert [retry_after(w) for w in (0.01, 1.0, 1.2)] == [1, 1, 2]


def test_failures_in_a_row_lock_out_and_a_success_resets() -> None:
    clock = Clock()
    guard = FailureGuard(rate=100.0, burst=100, lockout_after=20, lockout_s=900, clock=clock)
    for _ in range(19):
        assert guard.failed("10.0.0.9") is False
    guard.succeeded("10.0.0.9")
    assert guard.failures_in_a_row("10.0.0.9") == 0
    locked = [guard.failed("10.0.0.9") for _ in range(20)]
    assert locked == [False] * 19 + [True]
    refusal = guard.refusal("10.0.0.9")
    assert refusal is not None and refusal.code == "locked_out"
    assert refusal.wait_s == pytest.approx(900)
    assert guard.refusal("10.0.0.8") is None
    clock.advance(900)
    assert guard.refusal("10.0.0.9") is None


def test_the_stricter_limit_on_failures() -> None:
    clock = Clock()
    guard = FailureGuard(rate=1.0, burst=3, lockout_after=20, lockout_s=900, clock=clock)
    for _ in range(3):
        assert guard.refusal("a") is None
        guard.failed("a")
    refusal = guard.refusal("a")
    assert refusal is not None and refusal.code == "too_many_failures"
    clock.advance(1.0)
    assert guard.refusal("a") is None


@pytest.mark.parametrize(
    ("peer", "forwarded", "client"),
    [
        ("127.0.0.1", "203.0.113.7", "203.0.113.7"),
        ("127.0.0.1", "1.2.3.4, 203.0.113.7", "203.0.113.7"),  # the left part is the client's
        ("127.0.0.1", "203.0.113.7, 127.0.0.1", "203.0.113.7"),
        ("10.0.0.5", "203.0.113.7", "10.0.0.5"),  # not a trusted proxy: header ignored
        ("127.0.0.1", "garbage", "127.0.0.1"),
        ("127.0.0.1", None, "127.0.0.1"),
    ],
)
def test_the_client_behind_a_trusted_proxy(peer: str, forwarded: str | None, client: str) -> None:
    assert client_address(peer, forwarded, parse_networks(["127.0.0.1/32"])) == client


def test_scrape_networks() -> None:
    nets = parse_networks(["10.99.0.0/24", "fd00::/8"])
    assert within("10.99.0.7", nets) and within("fd00::1", nets)
    assert not within("10.98.0.7", nets) and not within("testclient", nets)
