"""Monitoring queries behind /api/monitoring: metrics, history, performance."""

from __future__ import annotations

from dataclasses import dataclass

from appliance.database.repository import Sample, Store
from appliance.errors import NotYetAvailable, UnknownMetric, UnknownService
from appliance.health.monitor import HealthMonitor
from appliance.performance import LatencySummary, RequestStats, summarize
from appliance.vitals.catalog import CATALOG, MetricDef
from appliance.vitals.models import SystemVitals
from appliance.vitals.sampler import VitalsSampler


@dataclass(frozen=True, slots=True)
class MetricValue:
    definition: MetricDef
    value: float
    ts: float


@dataclass(frozen=True, slots=True)
class ServicePerformance:
    name: str
    status: str
    checks: int
    up_ratio: float
    latency: LatencySummary
    last_latency_ms: float
    last_checked_at: float


class MonitoringService:
    def __init__(
        self,
        sampler: VitalsSampler,
        store: Store | None,
        health: HealthMonitor,
        requests: RequestStats,
    ) -> None:
        self._sampler = sampler
        self._store = store
        self._health = health
        self.requests = requests

    def _latest(self) -> SystemVitals:
        latest = self._sampler.latest()
        if latest is None:
            raise NotYetAvailable("no vitals sample taken yet")
        return latest

    @staticmethod
    def _definition(name: str) -> MetricDef:
        try:
            return CATALOG[name]
        except KeyError:
            raise UnknownMetric(name, sorted(CATALOG)) from None

    def vitals(self) -> SystemVitals:
        return self._latest()

    def metrics(self, latest: SystemVitals | None = None) -> list[MetricValue]:
        """Every scalar metric of ``latest`` (default: the latest sample)."""
        if latest is None:
            latest = self._latest()
        return [MetricValue(d, float(d.read(latest)), latest.ts) for d in CATALOG.values()]

    def metric(self, name: str) -> MetricValue:
        definition = self._definition(name)
        latest = self._latest()
        return MetricValue(definition, float(definition.read(latest)), latest.ts)

    def history(self, name: str, since: float, limit: int) -> tuple[MetricDef, list[Sample]]:
        """From the store when there is one (survives restarts), else the in-memory window."""
        definition = self._definition(name)
        if self._store is not None:
            return definition, self._store.history(name, since, limit)
        samples = [
            Sample(v.ts, float(definition.read(v)))
            for v in self._sampler.history()
            if v.ts >= since
        ]
        return definition, samples[-limit:]

    def service_names(self) -> list[str]:
        return self._health.registry.names

    def service_performance(self, name: str) -> ServicePerformance:
        if name not in self._health.registry.names:
            raise UnknownService(name, self._health.registry.names)
        results = self._health.history(name)
        if not results:
            raise NotYetAvailable(f"service {name!r} not checked yet")
        latencies = [r.latency_ms for r in results]
        down = sum(1 for r in results if r.status.value == "down")
        last = results[-1]
        return ServicePerformance(
            name=name,
            status=last.status.value,
            checks=len(results),
            up_ratio=round(sum(1 for r in results if r.status.value == "up") / len(results), 4),
            latency=summarize(latencies, len(results), down),
            last_latency_ms=last.latency_ms,
            last_checked_at=last.checked_at,
        )

    def services_performance(self) -> list[ServicePerformance]:
        return [
            self.service_performance(name)
            for name in self._health.registry.names
            if self._health.history(name)
        ]
