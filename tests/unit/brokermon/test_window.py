"""The latency window (pure; the clock is given)."""

from __future__ import annotations

import pytest

from appliance.brokermon.window import LatencyWindow


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_percentiles_over_committed_probes() -> None:
    clock = Clock()
    w = LatencyWindow(60, clock)
    for i in range(1, 101):  # 1 ms … 100 ms
        w.published(f"p{i}", clock.now)
        w.committed(f"p{i}", clock.now, clock.now + i / 1000)
    st = w.stats()
    assert st.count == 100 and st.pending == 0
    assert (st.p50_ms, st.p95_ms, st.p99_ms, st.max_ms) == pytest.approx((50, 95, 99, 100))
    assert st.avg_ms == pytest.approx(50.5)
    assert st.last_ms == pytest.approx(100)


def test_a_pending_probe_counts_with_its_age_so_far() -> None:
    clock = Clock()
    w = LatencyWindow(60, clock)
    w.committed("a", clock.now, clock.now + 0.010)
    w.published("stuck", clock.now)
    clock.now += 5
    st = w.stats()
    assert st.pending == 1 and st.count == 1
    assert st.oldest_pending_ms == pytest.approx(5000)
    assert st.p99_ms == pytest.approx(5000)  # the stuck database shows now, not at its commit
    w.committed("stuck", clock.now - 5, clock.now)
    assert w.stats().pending == 0 and w.stats().last_ms == pytest.approx(5000)


def test_the_window_forgets_old_probes_and_gives_up_on_lost_ones() -> None:
    clock = Clock()
    w = LatencyWindow(60, clock)
    w.committed("old", clock.now, clock.now + 0.5)
    w.published("lost", clock.now)
    clock.now += 61
    st = w.stats()
    assert (st.count, st.pending, st.lost) == (0, 0, 1)
    assert st.p99_ms is None and st.avg_ms is None


def test_nothing_measured_is_none_not_zero() -> None:
    st = LatencyWindow(60, Clock()).stats()
    assert st.count == 0 and st.p50_ms is None and st.last_committed_at is None
