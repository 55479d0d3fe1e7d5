"""Consumer-group lag from offsets (pure)."""

from __future__ import annotations

from appliance.brokermon.lag import GroupLag, KafkaSnapshot, end_offset, group_lags


def test_lag_is_end_minus_committed_summed_over_the_topics_partitions() -> None:
    ends = {("orders", 0): 10, ("orders", 1): 7, ("orders", 2): 0, ("audit", 0): 5}
    committed = {("orders", 0): 4, ("orders", 1): 7}
    lags = group_lags("billing", committed, ends, starts={})
    # orders/2 is empty: nothing behind there; audit: the group never committed on it.
    assert lags == [GroupLag("billing", "orders", 6, 3, 1)]


def test_a_partition_never_committed_counts_from_the_log_start() -> None:
    ends = {("orders", 0): 10, ("orders", 1): 50}
    lags = group_lags("g", {("orders", 0): 10}, ends, starts={("orders", 1): 20})
    assert lags == [GroupLag("g", "orders", 30, 2, 1)]


def test_no_negative_lag_when_a_commit_is_ahead_of_a_stale_end() -> None:
    assert group_lags("g", {("t", 0): 12}, {("t", 0): 10}, {})[0].lag == 0


def test_a_negative_committed_offset_is_no_commit() -> None:
    assert group_lags("g", {("t", 0): -1001}, {("t", 0): 3}, {})[0] == GroupLag("g", "t", 3, 1, 1)


def test_the_end_offset_is_the_larger_of_listed_and_fetched() -> None:
    assert end_offset(14, 18) == 18  # Tansu: ListOffsets short by the last batch's records
    assert end_offset(18, None) == 18
    assert end_offset(18, 14) == 18


def test_snapshot_totals() -> None:
    s = KafkaSnapshot(0.0, True, 1.0, topics={"a": 3, "b": 1}, lags=group_lags(
        "g", {("a", 0): 0}, {("a", 0): 9, ("a", 1): 1, ("a", 2): 0}, {}))  # fmt: skip
    assert s.partitions == 4
    assert s.max_lag() == 10
