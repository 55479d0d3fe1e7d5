"""The latency monitor's window (pure: the clock is given): probes published and not yet
committed, and the ingest→commit latencies of those committed within the window.

A probe not committed yet counts with its age so far, a lower bound of its latency: while the
database is stuck the figure climbs at once, not only after the probe finally commits. One
still pending a whole window after it was published is given up on (``lost``).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from appliance.performance import percentile


@dataclass(frozen=True, slots=True)
class LatencyStats:
    window_s: float
    #: Probes committed within the window.
    count: int
    #: Probes published and not committed yet (each counted in the figures with its age).
    pending: int
    #: Probes given up on since start (pending longer than the window).
    lost: int
    avg_ms: float | None
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    oldest_pending_ms: float | None
    last_ms: float | None
    last_committed_at: float | None


class LatencyWindow:
    def __init__(self, window_s: float, clock: Callable[[], float] = time.time) -> None:
        self.window_s = window_s
        self._clock = clock
        self._pending: dict[str, float] = {}  # probe → published at
        self._samples: deque[tuple[float, float]] = deque()  # (committed at, latency ms)
        self._lost = 0
        self._lock = threading.Lock()

    def published(self, probe: str, at: float) -> None:
        with self._lock:
            self._pending[probe] = at

    def committed(self, probe: str, published_at: float, committed_at: float) -> float:
        """Record one probe's commit; its latency in ms."""
        latency_ms = max(0.0, (committed_at - published_at) * 1000)
        with self._lock:
            self._pending.pop(probe, None)
            self._samples.append((committed_at, latency_ms))
        return latency_ms

    def _expire(self, now: float) -> None:
        horizon = now - self.window_s
        while self._samples and self._samples[0][0] < horizon:
            self._samples.popleft()
        for probe, at in list(self._pending.items()):
            if at < horizon:
                del self._pending[probe]
                self._lost += 1

    def stats(self, now: float | None = None) -> LatencyStats:
        now = self._clock() if now is None else now
        with self._lock:
            self._expire(now)
            done = [latency for _, latency in self._samples]
            ages = [max(0.0, (now - at) * 1000) for at in self._pending.values()]
            last = self._samples[-1] if self._samples else None
            lost = self._lost
        values = done + ages

        def rounded(value: float | None) -> float | None:
            return None if value is None else round(value, 3)

        return LatencyStats(
            window_s=self.window_s,
            count=len(done),
            pending=len(ages),
            lost=lost,
            avg_ms=rounded(sum(values) / len(values)) if values else None,
            p50_ms=rounded(percentile(values, 50)) if values else None,
            p95_ms=rounded(percentile(values, 95)) if values else None,
            p99_ms=rounded(percentile(values, 99)) if values else None,
            max_ms=rounded(max(values)) if values else None,
            oldest_pending_ms=rounded(max(ages)) if ages else None,
            last_ms=rounded(last[1]) if last else None,
            last_committed_at=last[0] if last else None,
        )
