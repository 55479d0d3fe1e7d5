from __future__ import annotations

import asyncio

import pytest

from appliance.health.models import CheckResult, OverallStatus, Probe, ServiceStatus, overall
from appliance.health.monitor import HealthMonitor
from appliance.health.registry import BlockingCheck, HealthCheck, HealthRegistry


class Fixed(HealthCheck):
    def __init__(self, name: str, status: ServiceStatus, critical: bool = True) -> None:
        self.name = name
        self.status = status
        self.critical = critical

    async def probe(self) -> Probe:
        return Probe(self.status, "msg" if self.status is not ServiceStatus.UP else "")


class Barrier(HealthCheck):
    """Finishes only when every Barrier check has started: proves concurrency, no sleeps."""

    def __init__(self, name: str, event: asyncio.Event, started: list[str], total: int) -> None:
        self.name = name
        self._event, self._started, self._total = event, started, total

    async def probe(self) -> Probe:
        self._started.append(self.name)
        if len(self._started) == self._total:
            self._event.set()
        await self._event.wait()
        return Probe(ServiceStatus.UP)


class Hangs(HealthCheck):
    name = "hangs"
    timeout_s = 0.01

    async def probe(self) -> Probe:
        await asyncio.Event().wait()  # never set
        raise AssertionError("unreachable")


class Raises(BlockingCheck):
    name = "raises"

    def probe_blocking(self) -> Probe:
        raise ConnectionRefusedError("port 5432")


def run(registry: HealthRegistry) -> dict[str, CheckResult]:
    return asyncio.run(registry.run_all()).services


def test_checks_run_concurrently() -> None:
    async def main() -> None:
        event, started = asyncio.Event(), []
        registry = HealthRegistry(default_timeout_s=5)
        for name in ("a", "b", "c"):
            registry.register(Barrier(name, event, started, 3))
        report = await registry.run_all()
        assert {r.status for r in report.services.values()} == {ServiceStatus.UP}

    asyncio.run(main())


def test_timeout_and_exception_become_down_with_latency() -> None:
    registry = HealthRegistry(default_timeout_s=5)
    registry.register(Hangs())
    registry.register(Raises())
    registry.register(Fixed("ok", ServiceStatus.UP))
    results = run(registry)
    assert results["hangs"].status is ServiceStatus.DOWN
    assert "no answer within 0.01 s" in results["hangs"].message
    assert results["raises"].status is ServiceStatus.DOWN
    assert "ConnectionRefusedError: port 5432" in results["raises"].message
    assert results["ok"].status is ServiceStatus.UP
    assert all(r.latency_ms >= 0 for r in results.values())


def test_duplicate_names_are_refused() -> None:
    registry = HealthRegistry(1)
    registry.register(Fixed("x", ServiceStatus.UP))
    with pytest.raises(ValueError, match="already registered"):
        registry.register(Fixed("x", ServiceStatus.UP))


@pytest.mark.parametrize(
    ("checks", "expected"),
    [
        ([("a", ServiceStatus.UP, True)], OverallStatus.HEALTHY),
        (
            [("a", ServiceStatus.UP, True), ("b", ServiceStatus.DEGRADED, True)],
            OverallStatus.DEGRADED,
        ),
        ([("a", ServiceStatus.DOWN, False)], OverallStatus.DEGRADED),
        ([("a", ServiceStatus.DOWN, True), ("b", ServiceStatus.UP, True)], OverallStatus.UNHEALTHY),
        ([], OverallStatus.HEALTHY),
    ],
)
def test_overall(checks: list[tuple[str, ServiceStatus, bool]], expected: OverallStatus) -> None:
    registry = HealthRegistry(1)
    for name, status, critical in checks:
        registry.register(Fixed(name, status, critical))
    assert overall(run(registry)) is expected


def test_monitor_keeps_last_report_and_bounded_history() -> None:
    registry = HealthRegistry(1)
    check = Fixed("svc", ServiceStatus.UP)
    registry.register(check)
    monitor = HealthMonitor(registry, interval_s=60, history=2)
    assert monitor.last is None

    async def rounds() -> None:
        for status in (ServiceStatus.UP, ServiceStatus.DOWN, ServiceStatus.DEGRADED):
            check.status = status
            await monitor.run_once()

    asyncio.run(rounds())
    assert monitor.last is not None and monitor.last.status is OverallStatus.DEGRADED
    assert [r.status for r in monitor.history("svc")] == [
        ServiceStatus.DOWN,
        ServiceStatus.DEGRADED,
    ]
