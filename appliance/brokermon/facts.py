"""The monitors' last figures as alert rule series (appliance/alerting/sources.py's shape).

Metric names (labels in braces)::

    kafka_broker_up                      1 when the last sample reached the broker
    kafka_topics / kafka_partitions      counts from the last sample
    kafka_consumer_lag{group, topic}     messages behind (lag.py)
    e2e_latency_p50_ms / _p95_ms / _p99_ms / _avg_ms / _max_ms
                                         probe ingest→commit over the window (window.py)
    e2e_latency_pending                  probes published and not committed yet
"""

from __future__ import annotations

from appliance.alerting.evaluation import Series
from appliance.alerting.sources import Facts
from appliance.brokermon.lag import KafkaSnapshot
from appliance.brokermon.window import LatencyStats


def _add(facts: Facts, metric: str, labels: dict[str, str], value: float) -> None:
    facts.setdefault(metric, []).append(Series(labels, float(value)))


def kafka_facts(snapshot: KafkaSnapshot | None, facts: Facts) -> None:
    if snapshot is None:
        return
    _add(facts, "kafka_broker_up", {}, snapshot.reachable)
    if not snapshot.reachable:
        return  # no lag known: the lag rule has no data rather than a stale figure
    _add(facts, "kafka_topics", {}, len(snapshot.topics))
    _add(facts, "kafka_partitions", {}, snapshot.partitions)
    for g in snapshot.lags:
        _add(facts, "kafka_consumer_lag", {"group": g.group, "topic": g.topic}, g.lag)


def latency_facts(stats: LatencyStats | None, facts: Facts) -> None:
    if stats is None:
        return
    _add(facts, "e2e_latency_pending", {}, stats.pending)
    figures = {
        "e2e_latency_p50_ms": stats.p50_ms,
        "e2e_latency_p95_ms": stats.p95_ms,
        "e2e_latency_p99_ms": stats.p99_ms,
        "e2e_latency_avg_ms": stats.avg_ms,
        "e2e_latency_max_ms": stats.max_ms,
    }
    for metric, value in figures.items():
        if value is not None:
            _add(facts, metric, {}, value)
