"""Storage service: reads a backend (cached for a few seconds) and builds pool reports."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol

from appliance.errors import BackendUnavailable
from appliance.storage.capacity import pool_report
from appliance.storage.levels import DEFAULT_LIMITS, LevelLimits
from appliance.storage.models import StorageReport, ZfsReading


class ZfsBackend(Protocol):
    name: str

    def read_state(self) -> ZfsReading:
        """Raise BackendUnavailable when ZFS cannot be read."""
        ...


class StorageService:
    def __init__(
        self,
        backend: Callable[[], ZfsBackend],
        pools: list[str],
        cache_ttl_s: float,
        clock: Callable[[], float] = time.monotonic,
        limits: LevelLimits = DEFAULT_LIMITS,
    ) -> None:
        self.limits = limits
        # The backend is created on first use: detection runs commands, not at start-up import.
        self._backend_factory = backend
        self._backend: ZfsBackend | None = None
        self._pools = set(pools)
        self._ttl = cache_ttl_s
        self._clock = clock
        self._lock = threading.Lock()
        self._cached: tuple[float, StorageReport] | None = None
        self._last: StorageReport | None = None

    def _get_backend(self) -> ZfsBackend:
        if self._backend is None:
            self._backend = self._backend_factory()
        return self._backend

    def check_storage_quota(self) -> StorageReport:
        """Per pool health, redundancy, usable space, scrub; per dataset quota use."""
        with self._lock:
            now = self._clock()
            if self._cached is not None and now - self._cached[0] < self._ttl:
                return self._cached[1]
            state = self._get_backend().read_state()
            pools = [
                pool_report(pool, state.datasets, self.limits)
                for name, pool in sorted(state.pools.items())
                if not self._pools or name in self._pools
            ]
            missing = self._pools - set(state.pools)
            if missing:
                raise BackendUnavailable(
                    f"configured pools not imported: {', '.join(sorted(missing))}"
                )
            report = StorageReport(state.backend, time.time(), pools, state.capabilities)
            self._cached = (now, report)
            self._last = report
            return report

    def last_report(self) -> StorageReport | None:
        """The last successful report, without touching ZFS (for scrapes)."""
        return self._last
