"""Health checks over the monitors' last samples (no broker request of their own): ``kafka``
(reachability, topics, partitions, lag per group and topic) and ``latency`` (the probes'
percentiles). Neither is critical: the ``broker`` check already says whether the broker is
down, and a slow pipeline is a warning, not an outage."""

from __future__ import annotations

import time
from collections.abc import Callable

from appliance.brokermon.kafka import KafkaMonitor
from appliance.brokermon.latency import LatencyMonitor
from appliance.health.models import Probe, ServiceStatus
from appliance.health.registry import HealthCheck


class KafkaCheck(HealthCheck):
    name = "kafka"
    critical = False

    def __init__(self, monitor: KafkaMonitor, clock: Callable[[], float] = time.time) -> None:
        self._monitor = monitor
        self._clock = clock

    async def probe(self) -> Probe:
        s = self._monitor.last
        if s is None:
            return Probe(ServiceStatus.UP, "not sampled yet (the broker check says if it is up)")
        age = self._clock() - s.sampled_at
        details = {
            "reachable": s.reachable,
            "sampled_at": s.sampled_at,
            "sample_age_s": round(age, 1),
            "sample_ms": s.duration_ms,
            "brokers": s.brokers,
            "topics": s.topics,
            "partitions": s.partitions,
            "lag": [
                {"group": g.group, "topic": g.topic, "lag": g.lag, "partitions": g.partitions}
                for g in s.lags
            ],
            "max_lag": s.max_lag(),
        }
        if s.group_errors:
            details["group_errors"] = s.group_errors
        if not s.reachable:
            return Probe(ServiceStatus.DOWN, s.error or "broker unreachable", details)
        if age > 3 * self._monitor.settings.interval_s:
            return Probe(ServiceStatus.DEGRADED, f"last sample {age:.0f} s old", details)
        threshold = self._monitor.settings.lag_threshold
        behind = [g for g in s.lags if g.lag > threshold]
        if behind:
            worst = max(behind, key=lambda g: g.lag)
            message = f"{worst.group} is {worst.lag} messages behind on {worst.topic}"
            return Probe(ServiceStatus.DEGRADED, message, details)
        if s.error or s.group_errors:
            return Probe(ServiceStatus.DEGRADED, s.error or "some groups' offsets unread", details)
        return Probe(ServiceStatus.UP, "", details)


class LatencyCheck(HealthCheck):
    name = "latency"
    critical = False

    def __init__(self, monitor: LatencyMonitor) -> None:
        self._monitor = monitor

    async def probe(self) -> Probe:
        st = self._monitor.stats()
        details = {
            "window_s": st.window_s,
            "count": st.count,
            "pending": st.pending,
            "lost": st.lost,
            "p50_ms": st.p50_ms,
            "p95_ms": st.p95_ms,
            "p99_ms": st.p99_ms,
            "avg_ms": st.avg_ms,
            "oldest_pending_ms": st.oldest_pending_ms,
        }
        if st.p99_ms is None:  # a pending probe counts: this is only before the first one
            return Probe(ServiceStatus.UP, "waiting for the first probe", details)
        threshold = self._monitor.settings.threshold_ms
        if st.p99_ms > threshold:
            message = f"ingest→commit p99 {st.p99_ms:.0f} ms > {threshold:g} ms"
            return Probe(ServiceStatus.DEGRADED, message, details)
        if st.count == 0:
            return Probe(ServiceStatus.DEGRADED, "no probe committed in the window", details)
        return Probe(ServiceStatus.UP, "", details)
