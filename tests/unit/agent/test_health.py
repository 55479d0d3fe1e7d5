from __future__ import annotations

import asyncio
import logging

import pytest

from appliance.health.journal import ThrottledLog, logfmt
from appliance.health.models import (
    CheckResult,
    HealthReport,
    Level,
    OverallStatus,
    Probe,
    ServiceStatus,
    overall,
)
from appliance.health.monitor import HealthMonitor
from appliance.health.registry import BlockingCheck, HealthCheck, HealthRegistry


class Fixed(HealthCheck):
    def __init__(
        self,
        name: str,
        status: ServiceStatus,
        critical: bool = True,
        level: Level | None = None,
    ) -> None:
        self.name = name
        self.status = status
        self.critical = critical
        self.level = level
        self.runs = 0

    async def probe(self) -> Probe:
        self.runs += 1
        return Probe(
            self.status, "msg" if self.status is not ServiceStatus.UP else "", level=self.level
        )


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
    # (name, status, critical); levels follow the status here.
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


@pytest.mark.parametrize(
    ("status", "level", "critical", "expected"),
    [
        # A pool with no redundancy left serves (degraded) but is critical: unhealthy.
        (ServiceStatus.DEGRADED, Level.CRITICAL, True, OverallStatus.UNHEALTHY),
        (ServiceStatus.DEGRADED, Level.CRITICAL, False, OverallStatus.DEGRADED),
        (ServiceStatus.DEGRADED, None, True, OverallStatus.DEGRADED),
        (ServiceStatus.DOWN, None, True, OverallStatus.UNHEALTHY),
    ],
)
def test_level_decides_unhealthy(
    status: ServiceStatus, level: Level | None, critical: bool, expected: OverallStatus
) -> None:
    registry = HealthRegistry(1)
    registry.register(Fixed("zfs", status, critical, level))
    results = run(registry)
    implied = {ServiceStatus.DEGRADED: Level.WARNING, ServiceStatus.DOWN: Level.CRITICAL}
    assert results["zfs"].level is (level or implied[status])
    assert overall(results) is expected


def transitions(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "appliance.health.transitions"]


def test_one_journal_line_per_state_change(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    registry = HealthRegistry(1)
    check = Fixed("postgres", ServiceStatus.UP)
    registry.register(check)
    monitor = HealthMonitor(registry, interval_s=60)

    async def rounds() -> None:
        for status in [ServiceStatus.UP, ServiceStatus.DOWN, ServiceStatus.DOWN,
                       ServiceStatus.DOWN, ServiceStatus.UP, ServiceStatus.UP]:  # fmt: skip
            check.status = status
            await monitor.run_once()
        check.status, check.level = ServiceStatus.DEGRADED, Level.CRITICAL
        await monitor.run_once()

    asyncio.run(rounds())
    assert transitions(caplog) == [
        "event=health_state_change check=postgres from=up to=down level=critical "
        "critical=true reason=msg",
        "event=health_state_change check=postgres from=down to=up level=ok critical=true reason=ok",
        "event=health_state_change check=postgres from=up to=degraded/critical "
        "level=critical critical=true reason=msg",
    ]
    record = next(r for r in caplog.records if r.name == "appliance.health.transitions")
    assert (record.levelno, record.health_check, record.health_to) == (  # type: ignore[attr-defined]
        logging.ERROR,
        "postgres",
        "down",
    )


def test_failing_checks_are_retried_alone_between_full_rounds() -> None:
    registry = HealthRegistry(1)
    good, bad = Fixed("good", ServiceStatus.UP), Fixed("bad", ServiceStatus.DOWN)
    registry.register(good)
    registry.register(bad)
    now = [0.0]
    monitor = HealthMonitor(registry, interval_s=15, retry_interval_s=2, clock=lambda: now[0])

    async def rounds() -> list[HealthReport | None]:
        done = [await monitor.tick()]  # first: everything
        now[0] = 2
        done.append(await monitor.tick())  # only the failing one
        bad.status = ServiceStatus.UP
        now[0] = 4
        done.append(await monitor.tick())  # it recovered
        now[0] = 6
        done.append(await monitor.tick())  # nothing failing, no full round due
        now[0] = 15
        done.append(await monitor.tick())  # full round
        return done

    reports = asyncio.run(rounds())
    assert (good.runs, bad.runs) == (2, 4)
    assert reports[3] is None
    first, recovered = reports[0], reports[2]
    assert first is not None and recovered is not None
    assert recovered.status is OverallStatus.HEALTHY
    assert recovered.services["good"] is first.services["good"]  # kept, not re-run


def test_logfmt_quotes_what_needs_it() -> None:
    fields = {"a": "x", "b": "two words", "c": 'say "hi"', "d": ""}
    assert logfmt(fields) == r'a=x b="two words" c="say \"hi\"" d=""'


def test_throttled_log_first_then_one_summary_per_interval(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    now = [0.0]
    throttle = ThrottledLog(logging.getLogger("t"), interval_s=30, clock=lambda: now[0])
    for i in range(120):  # 12 a second for 10 s, as the broker outage wrote them
        now[0] = i / 12
        throttle.log(logging.WARNING, "broker", "Connect to 127.0.0.1:9092 failed")
    now[0] = 31
    throttle.log(logging.WARNING, "broker", "Connect to 127.0.0.1:9092 failed")
    throttle.log(logging.WARNING, "broker", "Connect to 127.0.0.1:9092 failed")
    throttle.flush()
    assert [r.getMessage() for r in caplog.records] == [
        "Connect to 127.0.0.1:9092 failed",
        "Connect to 127.0.0.1:9092 failed (repeated 119 more times in the last 31 s)",
        "Connect to 127.0.0.1:9092 failed (repeated 1 more times before recovery)",
    ]
