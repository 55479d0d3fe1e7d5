"""What the appliance's services report over OTLP, as the monitoring API shows it: a service's
request rate, latency percentiles and error rate from its spans over a window, and custom
metrics as samples in the metrics history (``svc_<service>_<metric>``)."""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from appliance.database.repository import Sample, Store
from appliance.performance import LatencySummary, summarize
from appliance.tracing.otlp import METRIC_PREFIX, MetricPoint
from appliance.tracing.store import SpanStore

#: Custom metrics whose latest value is kept for /api/monitoring/metrics (newest first).
MAX_LATEST = 1000


@dataclass(frozen=True, slots=True)
class SpanPerformance:
    name: str
    status: str
    checks: int
    up_ratio: float
    latency: LatencySummary
    last_latency_ms: float
    last_checked_at: float
    source: str
    window_s: float
    request_rate_per_s: float


def span_performance(
    name: str, durations: Sequence[float], errors: int, last_end: float, window_s: float
) -> SpanPerformance:
    """Pure: a window's requests (durations in ms, newest first) as the API reports them."""
    count = len(durations)
    return SpanPerformance(
        name=name,
        status="up" if count and errors < count else ("down" if count else "idle"),
        checks=count,
        up_ratio=round(1 - errors / count, 4) if count else 0.0,
        latency=summarize(durations, count, errors),
        last_latency_ms=round(durations[0], 3) if count else 0.0,
        last_checked_at=last_end,
        source="spans",
        window_s=window_s,
        request_rate_per_s=round(count / window_s, 6),
    )


class ServiceTelemetry:
    def __init__(
        self,
        spans: SpanStore,
        store: Store,
        window_s: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.spans = spans
        self._store = store
        self.window_s = window_s
        self._clock = clock
        self._latest: dict[str, tuple[float, float]] = {}
        #: Changes whenever a metric is received (the metrics answer is cached until then).
        self.version = 0
        self._lock = threading.Lock()

    def performance(self, service: str) -> SpanPerformance | None:
        """None when no span of this service was ever kept within the retention."""
        now = self._clock()
        requests = self.spans.requests(service, now - self.window_s)
        if not requests:
            if service not in self.spans.services(0.0):
                return None
            return span_performance(service, [], 0, 0.0, self.window_s)
        return span_performance(
            service,
            [r.duration_ms for r in requests],
            sum(r.error for r in requests),
            max(r.end_s for r in requests),
            self.window_s,
        )

    def services(self) -> list[str]:
        return self.spans.services(self._clock() - self.window_s)

    def add_metrics(self, points: Sequence[MetricPoint]) -> None:
        by_ts: dict[float, dict[str, float]] = defaultdict(dict)
        for p in points:
            by_ts[p.ts or self._clock()][p.name] = p.value
        for ts, values in sorted(by_ts.items()):
            self._store.add_samples(ts, values)
        with self._lock:
            for p in points:
                self._latest[p.name] = (p.ts, p.value)
            self.version += 1
            if len(self._latest) > MAX_LATEST:
                newest = sorted(self._latest.items(), key=lambda kv: kv[1][0], reverse=True)
                self._latest = dict(newest[:MAX_LATEST])

    def latest(self) -> dict[str, tuple[float, float]]:
        """Each custom metric's last (time, value) received since the agent started."""
        with self._lock:
            return dict(sorted(self._latest.items()))

    def history(self, name: str, since: float, limit: int) -> list[Sample] | None:
        """A custom metric's samples, oldest first; None for a name that is not one."""
        if not name.startswith(METRIC_PREFIX):
            return None
        return self._store.history(name, since, limit)
