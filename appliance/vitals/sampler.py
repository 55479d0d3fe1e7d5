"""Background sampling: derives rates, status and leak suspects, keeps a bounded history.

Runs in its own thread because psutil calls block; tests drive ``sample_once`` directly with a
fake collector and clock, so nothing here needs sleeping to test.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping

from appliance.config import Settings
from appliance.database.errors import StoreError
from appliance.database.repository import Store
from appliance.health.journal import ThrottledLog
from appliance.vitals.catalog import scalar_metrics
from appliance.vitals.leaks import find_leak_suspects
from appliance.vitals.models import (
    LoadPerCore,
    NetworkCounters,
    NetworkRate,
    ProcessInfo,
    RawSnapshot,
    SystemVitals,
    ZombieProcess,
)
from appliance.vitals.thresholds import Readings, evaluate

log = logging.getLogger(__name__)
_store_errors = ThrottledLog(log, interval_s=60.0)

ZOMBIE = "zombie"
PRUNE_EVERY = 360  # samples between deletions of expired history rows


def network_rates(
    prev: Mapping[str, NetworkCounters], cur: Mapping[str, NetworkCounters], dt: float
) -> tuple[NetworkRate, ...]:
    """Per-interface rates between two readings; a counter that went back (reset) counts 0."""

    def rate(a: int, b: int) -> float:
        return max(b - a, 0) / dt if dt > 0 else 0.0

    rates = []
    for nic, now in sorted(cur.items()):
        before = prev.get(nic, now)
        rates.append(
            NetworkRate(
                interface=nic,
                bytes_sent_per_s=rate(before.bytes_sent, now.bytes_sent),
                bytes_recv_per_s=rate(before.bytes_recv, now.bytes_recv),
                packets_sent_per_s=rate(before.packets_sent, now.packets_sent),
                packets_recv_per_s=rate(before.packets_recv, now.packets_recv),
                errors_per_s=rate(before.errin + before.errout, now.errin + now.errout),
            )
        )
    return tuple(rates)


class RssTracker:
    """Per-process RSS over the last ``window`` samples, bounded in processes too."""

    def __init__(self, window: int, max_processes: int) -> None:
        self._window = window
        self._max = max_processes
        self.series: dict[tuple[int, float], deque[tuple[float, int]]] = {}
        self.names: dict[tuple[int, float], str] = {}

    def update(self, ts: float, processes: tuple[ProcessInfo, ...]) -> None:
        live = [p for p in processes if p.status != ZOMBIE and p.rss_bytes > 0]
        # Track the biggest processes first: a leak that matters shows up there.
        live.sort(key=lambda p: p.rss_bytes, reverse=True)
        seen = set()
        for proc in live[: self._max]:
            key = (proc.pid, proc.create_time)
            seen.add(key)
            self.series.setdefault(key, deque(maxlen=self._window)).append((ts, proc.rss_bytes))
            self.names[key] = proc.name
        for key in list(self.series):
            if key not in seen:  # exited (or dropped out of the top): its history is void
                del self.series[key]
                self.names.pop(key, None)


class VitalsSampler:
    def __init__(
        self,
        collect: Callable[[], RawSnapshot],
        settings: Settings,
        store: Store | None = None,
    ) -> None:
        self._collect = collect
        self._settings = settings
        self._store = store
        self._history: deque[SystemVitals] = deque(maxlen=settings.history_size)
        self._rss = RssTracker(settings.leak.window_samples, settings.leak.max_processes)
        self._prev: RawSnapshot | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._samples_taken = 0
        self.last_error: str | None = None
        # Monotonic time of the last sample: its age is immune to wall-clock jumps.
        self.last_sampled_at: float | None = None

    # --- derived values -------------------------------------------------------------------
    def _derive(self, raw: RawSnapshot) -> SystemVitals:
        prev = self._prev
        rates = network_rates(
            prev.network if prev else {}, raw.network, raw.ts - prev.ts if prev else 0.0
        )
        cores = max(raw.cpu_count, 1)
        load = LoadPerCore(*(round(v / cores, 3) for v in raw.load_avg))
        zombies = tuple(
            ZombieProcess(pid=p.pid, ppid=p.ppid, name=p.name)
            for p in raw.processes
            if p.status == ZOMBIE
        )
        self._rss.update(raw.ts, raw.processes)
        suspects = find_leak_suspects(self._rss.series, self._rss.names, self._settings.leak)
        status, reasons = evaluate(
            Readings(
                cpu_percent=raw.cpu_percent,
                memory_percent=raw.memory_percent,
                swap_percent=raw.swap_percent if raw.swap_total_bytes else 0.0,
                load_per_core=load.one,
                disk_percents={d.mountpoint: d.percent for d in raw.disks},
                zombie_count=len(zombies),
            ),
            self._settings.thresholds,
        )
        return SystemVitals(
            ts=raw.ts,
            cpu_percent=raw.cpu_percent,
            cpu_count=raw.cpu_count,
            memory_percent=raw.memory_percent,
            memory_total_bytes=raw.memory_total_bytes,
            memory_available_bytes=raw.memory_available_bytes,
            swap_percent=raw.swap_percent,
            swap_total_bytes=raw.swap_total_bytes,
            swap_used_bytes=raw.swap_used_bytes,
            load=load,
            disks=raw.disks,
            network=rates,
            process_count=len(raw.processes),
            zombies=zombies,
            leak_suspects=tuple(suspects),
            status=status,
            reasons=reasons,
        )

    def sample_once(self) -> SystemVitals:
        raw = self._collect()
        with self._lock:
            vitals = self._derive(raw)
            self._prev = raw
            self._history.append(vitals)
            self._samples_taken += 1
            self.last_sampled_at = time.monotonic()
            prune_now = self._samples_taken % PRUNE_EVERY == 1
        if self._store is not None:
            try:
                self._store.add_samples(vitals.ts, scalar_metrics(vitals))
                if prune_now:
                    self._store.prune(vitals.ts - self._settings.history_retention_s)
                if self.last_error is not None:
                    _store_errors.flush()  # the outage's count, now that it is over
                self.last_error = None
            except StoreError as exc:
                # Keep sampling into memory; the health check reports the store problem (one
                # journal line per change), so this repeats once a minute at most.
                self.last_error = str(exc)
                _store_errors.log(logging.WARNING, "store", f"vitals not persisted: {exc}")
        return vitals

    # --- queries ---------------------------------------------------------------------------
    def latest(self) -> SystemVitals | None:
        with self._lock:
            return self._history[-1] if self._history else None

    def history(self) -> list[SystemVitals]:
        with self._lock:
            return list(self._history)

    def get_system_vitals(self) -> SystemVitals:
        """The latest background sample; samples now only if none was taken yet."""
        return self.latest() or self.sample_once()

    # --- background thread -----------------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="vitals-sampler", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    @property
    def died(self) -> bool:
        """The background thread was started and is gone (never started: driven by hand)."""
        return self._thread is not None and not self._thread.is_alive()

    def _loop(self) -> None:
        interval = self._settings.sample_interval_s
        while not self._stop.is_set():
            try:
                self.sample_once()
            except Exception:  # one bad reading must not end sampling
                log.exception("vitals sample failed")
            self._stop.wait(interval)
