"""Request and service latency statistics (pure aggregation, bounded memory)."""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(math.ceil(q / 100 * len(ordered)), 1)
    return ordered[min(rank, len(ordered)) - 1]


@dataclass(frozen=True, slots=True)
class LatencySummary:
    count: int
    errors: int
    error_rate: float
    avg_ms: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float


def summarize(latencies: Sequence[float], count: int, errors: int) -> LatencySummary:
    return LatencySummary(
        count=count,
        errors=errors,
        error_rate=round(errors / count, 4) if count else 0.0,
        avg_ms=round(sum(latencies) / len(latencies), 3) if latencies else 0.0,
        p50_ms=round(percentile(latencies, 50), 3),
        p95_ms=round(percentile(latencies, 95), 3),
        p99_ms=round(percentile(latencies, 99), 3),
        max_ms=round(max(latencies, default=0.0), 3),
    )


class _Route:
    __slots__ = ("count", "errors", "latencies")

    def __init__(self, window: int) -> None:
        self.count = 0
        self.errors = 0
        self.latencies: deque[float] = deque(maxlen=window)


class RequestStats:
    """Per-route counters plus a window of recent latencies for percentiles."""

    def __init__(self, window: int = 1000) -> None:
        self._window = window
        self._routes: dict[str, _Route] = {}
        self._lock = threading.Lock()

    def record(self, route: str, latency_ms: float, error: bool) -> None:
        with self._lock:
            entry = self._routes.get(route)
            if entry is None:
                entry = self._routes[route] = _Route(self._window)
            entry.count += 1
            entry.errors += error
            entry.latencies.append(latency_ms)

    def summary(self) -> tuple[LatencySummary, dict[str, LatencySummary]]:
        with self._lock:
            per_route = {
                route: summarize(list(e.latencies), e.count, e.errors)
                for route, e in sorted(self._routes.items())
            }
            everything = [lat for e in self._routes.values() for lat in e.latencies]
            total = sum(e.count for e in self._routes.values())
            errors = sum(e.errors for e in self._routes.values())
        return summarize(everything, total, errors), per_route
