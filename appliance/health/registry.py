"""Check registry: run every check concurrently, each bounded by its timeout.

Adding a check is a small class::

    class VaultCheck(BlockingCheck):
        name = "vault"

        def probe_blocking(self) -> Probe:
            sealed = hvac_client.sys.is_sealed()
            return Probe(ServiceStatus.DOWN if sealed else ServiceStatus.UP)

    registry.register(VaultCheck())
"""

from __future__ import annotations

import asyncio
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable

from appliance.health.models import (
    CheckResult,
    HealthReport,
    Probe,
    ServiceStatus,
    overall,
)


class HealthCheck(ABC):
    name: str
    #: A critical check that is down makes the whole appliance unhealthy.
    critical: bool = True
    #: Overrides the registry's default timeout when set.
    timeout_s: float | None = None

    @abstractmethod
    async def probe(self) -> Probe: ...


class BlockingCheck(HealthCheck):
    """For checks built on blocking clients (subprocess, psycopg, hvac): run in a thread."""

    @abstractmethod
    def probe_blocking(self) -> Probe: ...

    async def probe(self) -> Probe:
        return await asyncio.to_thread(self.probe_blocking)


class HealthRegistry:
    def __init__(self, default_timeout_s: float, clock: Callable[[], float] = time.time) -> None:
        self._checks: dict[str, HealthCheck] = {}
        self._timeout = default_timeout_s
        self._clock = clock

    def register(self, check: HealthCheck) -> None:
        if check.name in self._checks:
            raise ValueError(f"health check {check.name!r} is already registered")
        self._checks[check.name] = check

    @property
    def names(self) -> list[str]:
        return sorted(self._checks)

    async def _run_one(self, check: HealthCheck) -> CheckResult:
        timeout = check.timeout_s or self._timeout
        start = time.perf_counter()
        try:
            probe = await asyncio.wait_for(check.probe(), timeout)
        except TimeoutError:
            probe = Probe(ServiceStatus.DOWN, f"no answer within {timeout:g} s")
        except Exception as exc:  # a failing check reports down; it must not stop the others
            # Not logged here: the monitor writes one journal line when the state changes.
            probe = Probe(ServiceStatus.DOWN, f"{type(exc).__name__}: {exc}")
        latency_ms = (time.perf_counter() - start) * 1000
        return CheckResult(
            name=check.name,
            status=probe.status,
            latency_ms=round(latency_ms, 3),
            checked_at=self._clock(),
            critical=check.critical,
            message=probe.message,
            details=probe.details,
            level=probe.severity,
        )

    async def run_all(self) -> HealthReport:
        return await self.run(self.names)

    async def run(self, names: Iterable[str], earlier: HealthReport | None = None) -> HealthReport:
        """Run the named checks; the others keep their result from ``earlier``."""
        checks = [self._checks[name] for name in names if name in self._checks]
        results = await asyncio.gather(*(self._run_one(c) for c in checks))
        by_name = dict(earlier.services) if earlier is not None else {}
        by_name.update((r.name, r) for r in results)
        return HealthReport(status=overall(by_name), services=by_name, checked_at=self._clock())
