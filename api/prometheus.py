"""Prometheus exposition: request metrics (fed by the middleware) and host/pool gauges.

Each app gets its own CollectorRegistry so several apps (tests) never share counters.
Vitals and pool gauges are read from the runtime at scrape time, from the last background
results: a scrape never runs psutil or zfs itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from api.prometheus_brokermon import brokermon_metrics
from appliance.alerting.dispatch.stats import DispatchStats
from appliance.runtime import AgentRuntime
from appliance.vitals.catalog import CATALOG
from appliance.vitals.models import VitalsStatus

LATENCY_BUCKETS_MS = (0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000)
_STATUS_VALUE = {VitalsStatus.HEALTHY: 0, VitalsStatus.DEGRADED: 1, VitalsStatus.CRITICAL_LOAD: 2}


class RequestMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.request_count = Counter(
            "request_count",
            "HTTP requests served",
            ["method", "route", "status"],
            registry=registry,
        )
        self.request_latency_ms = Histogram(
            "request_latency_ms",
            "HTTP request latency in milliseconds",
            ["method", "route"],
            buckets=LATENCY_BUCKETS_MS,
            registry=registry,
        )
        # Both read at scrape time from plain counters the middleware keeps (one event loop
        # thread): no lock and no float set per request.
        self.error_rate = Gauge(
            "error_rate", "Share of requests answered 5xx since start", registry=registry
        )
        self.error_rate.set_function(lambda: self._errors / self._total if self._total else 0.0)
        self.active_connections = Gauge(
            "active_connections", "HTTP requests in flight", registry=registry
        )
        self.active_connections.set_function(lambda: self.in_flight)
        self.auth_failures = Counter(
            "auth_failures",
            "Presented credentials refused (bad, expired or revoked token; bad TOTP code)",
            registry=registry,
        )
        self.rate_limited = Counter(
            "rate_limited",
            "Requests refused with 429, by limit: address, token, failures (the stricter "
            "limit on failed authentications), locked_out",
            ["limit"],
            registry=registry,
        )
        self.audit_write_failures = Counter(
            "audit_write_failures", "Audit records that could not be written", registry=registry
        )
        self.in_flight = 0
        self._total = 0
        self._errors = 0
        # The labelled children, looked up once per (method, route, status): `labels()` checks
        # and locks on every call. Bounded like the labels are (api/middleware.py).
        self._children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    def observe(self, method: str, route: str, status: int, latency_ms: float) -> None:
        key = (method, route, status)
        children = self._children.get(key)
        if children is None:
            children = self._children[key] = (
                self.request_count.labels(method, route, str(status)),
                self.request_latency_ms.labels(method, route),
            )
        count, latency = children
        count.inc()
        latency.observe(latency_ms)
        self._total += 1
        self._errors += status >= 500


class RuntimeCollector(Collector):
    def __init__(self, runtime: AgentRuntime) -> None:
        self._runtime = runtime

    def collect(self) -> Iterator[Metric]:
        runtime = self._runtime
        state = GaugeMetricFamily(
            "appliance_lifecycle_state", "1 for the current state", labels=["state"]
        )
        state.add_metric([runtime.lifecycle.state.value], 1)
        yield state
        latest = runtime.sampler.latest()
        if latest is not None:
            for name, definition in CATALOG.items():
                yield GaugeMetricFamily(
                    f"appliance_{name}",
                    f"{definition.description} ({definition.unit})",
                    value=float(definition.read(latest)),
                )
            yield GaugeMetricFamily(
                "appliance_vitals_status",
                "0 HEALTHY, 1 DEGRADED, 2 CRITICAL_LOAD",
                value=_STATUS_VALUE[latest.status],
            )
            disk = GaugeMetricFamily(
                "appliance_disk_used_percent", "Used space per mount", labels=["mountpoint"]
            )
            for d in latest.disks:
                disk.add_metric([d.mountpoint], d.percent)
            yield disk
        report = runtime.health.last
        if report is not None:
            up = GaugeMetricFamily(
                "appliance_service_up", "1 up, 0.5 degraded, 0 down", labels=["service"]
            )
            for name, result in report.services.items():
                up.add_metric([name], {"up": 1.0, "degraded": 0.5}.get(result.status.value, 0.0))
            yield up
            if "backups" in report.services:
                yield from backup_metrics(report.services["backups"].details)
        storage = runtime.storage.last_report()
        if storage is not None:
            health = GaugeMetricFamily(
                "appliance_pool_healthy", "1 when the pool is ONLINE", labels=["pool", "health"]
            )
            capacity = GaugeMetricFamily(
                "appliance_pool_capacity_percent", "Usable space used", labels=["pool"]
            )
            used = GaugeMetricFamily("appliance_pool_used_bytes", "Used bytes", labels=["pool"])
            free = GaugeMetricFamily("appliance_pool_free_bytes", "Free bytes", labels=["pool"])
            for pool in storage.pools:
                health.add_metric([pool.name, pool.health], 1.0 if pool.health == "ONLINE" else 0.0)
                capacity.add_metric([pool.name], pool.capacity_percent)
                used.add_metric([pool.name], pool.used_bytes)
                free.add_metric([pool.name], pool.free_bytes)
            yield from (health, capacity, used, free)
        if runtime.dispatcher is not None:
            yield from dispatch_metrics(runtime.dispatcher.stats)
        if runtime.monitors is not None:
            yield from brokermon_metrics(runtime.monitors)


def backup_metrics(details: dict[str, Any]) -> Iterator[Metric]:
    """Each backup kind deployed on the host, as the `backups` health check judged it."""
    ok = GaugeMetricFamily(
        "appliance_backup_ok",
        "1 when the kind's last run succeeded and its last success is recent enough",
        labels=["kind"],
    )
    last = GaugeMetricFamily(
        "appliance_backup_last_success_timestamp_seconds",
        "When the kind last succeeded (Unix time; absent: never)",
        labels=["kind"],
    )
    for kind, entry in sorted(details.items()):
        ok.add_metric([kind], 1.0 if entry.get("ok") else 0.0)
        if entry.get("last_success"):
            when = datetime.fromisoformat(entry["last_success"])
            last.add_metric([kind], when.timestamp())
    yield from (ok, last)


def dispatch_metrics(stats: DispatchStats) -> Iterator[Metric]:
    """The alert dispatcher's: what it notified since start, what it sees as of its last tick."""
    sent = CounterMetricFamily(
        "appliance_alert_notifications",
        "Alert notifications enqueued (or, database_down, sent directly) per channel and kind: "
        "firing, resolved, escalation, database_down",
        labels=["channel", "kind"],
    )
    for (channel, kind), n in sorted(stats.notifications.items()):
        sent.add_metric([channel, kind], n)
    yield sent
    alerts = GaugeMetricFamily(
        "appliance_alerts",
        "Alerts the dispatcher holds per state (firing, silenced, inhibited, acknowledged, "
        "resolved), as of its last tick",
        labels=["state"],
    )
    for state, n in stats.alerts.items():
        alerts.add_metric([state], n)
    yield alerts
    yield GaugeMetricFamily("appliance_alert_groups", "Alert groups", value=stats.groups)
    yield CounterMetricFamily(
        "appliance_alert_dispatch_failed_ticks",
        "Dispatch ticks that failed (the database away, mostly)",
        value=stats.ticks_failed,
    )
    yield GaugeMetricFamily(
        "appliance_alerting_database_down",
        "1 while the dispatcher finds the agent's database unreachable",
        value=1.0 if stats.database_down else 0.0,
    )
