"""Consumer-group lag from offsets (pure: the adapter in kafka.py reads them from the broker).

A group's lag on a partition is the partition's end offset (the high watermark: the offset the
next record will get) minus the group's committed offset (the next record it will read). On a
partition of a topic the group reads but where it never committed, it will start from the log
start (``auto.offset.reset=earliest``, as the agent's consumers do): everything there counts.
Only topics on which the group committed at least once are the group's topics (the broker
does not tell which topics an idle group subscribes to).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

TopicPartition = tuple[str, int]


@dataclass(frozen=True, slots=True)
class GroupLag:
    group: str
    topic: str
    #: Messages behind, summed over the topic's partitions.
    lag: int
    partitions: int
    #: Partitions with no committed offset (counted from the log start).
    uncommitted: int


@dataclass(frozen=True, slots=True)
class KafkaSnapshot:
    """One sample of the broker, as the monitor saw it."""

    sampled_at: float
    reachable: bool
    duration_ms: float
    error: str | None = None
    brokers: int = 0
    #: Topic → partition count (internal ``__`` topics left out).
    topics: dict[str, int] = field(default_factory=dict)
    lags: list[GroupLag] = field(default_factory=list)
    #: Groups whose offsets could not be read, with why.
    group_errors: dict[str, str] = field(default_factory=dict)

    @property
    def partitions(self) -> int:
        return sum(self.topics.values())

    def max_lag(self) -> int:
        return max((g.lag for g in self.lags), default=0)


def end_offset(listed: int, fetched: int | None) -> int:
    """The larger of ListOffsets' answer and a fetch's high watermark (either may be behind:
    Tansu's ListOffsets stops at its last batch's base offset + 1)."""
    return listed if fetched is None or fetched < listed else fetched


def group_lags(
    group: str,
    committed: Mapping[TopicPartition, int],
    ends: Mapping[TopicPartition, int],
    starts: Mapping[TopicPartition, int],
) -> list[GroupLag]:
    """Per topic the group committed on: its lag over every partition of the topic in
    ``ends``. A negative committed offset (librdkafka's -1001, none) counts as no commit."""
    topics = sorted({topic for topic, _ in committed})
    out = []
    for topic in topics:
        partitions = sorted(tp for tp in ends if tp[0] == topic)
        lag = uncommitted = 0
        for tp in partitions:
            offset = committed.get(tp)
            if offset is None or offset < 0:
                uncommitted += 1
                offset = starts.get(tp, 0)
            lag += max(0, ends[tp] - offset)
        out.append(GroupLag(group, topic, lag, len(partitions), uncommitted))
    return out
