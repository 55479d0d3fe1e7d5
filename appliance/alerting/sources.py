"""The agent's facts as metric series for rules: vitals (host), health checks (services),
storage (pools, datasets) and certificates. Reads what the services already hold (the last
sample, the last health round, the last storage report): an evaluation runs no command.

Metric names (labels in braces)::

    <vitals catalog>{service=host}     cpu_percent, memory_percent, zombie_count, ...
    cpu_percent / cpu_core_percent{service, unit}   per systemd service, from its cgroup
                                       (appliance/vitals/units.py; service: the unit's name
                                       without .service)
    host_critical_load{service=host}   1 when the vitals status is CRITICAL_LOAD
    disk_percent{mountpoint}           root_fs_percent{mountpoint=/}
    service_up / service_down / critical_service_down / service_level /
    service_latency_ms{service}        one per health check (level: 0 ok, 1 warning, 2 critical)
    backup_problem / backup_age_seconds{kind}   per backup kind deployed (snapshots, postgres,
                                       vault, replication): 1 when it failed or is stale
    pool_capacity_percent / pool_degraded / pool_faulted / pool_scrub_errors /
    pool_read_errors / pool_write_errors / pool_checksum_errors / pool_errors_total{pool}
    dataset_quota_percent{pool, dataset}   the fuller of quota and refquota
    tls_cert_days_left{certificate}
    kafka_* / e2e_latency_*            the broker monitors' (appliance/brokermon/facts.py)
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from appliance.alerting.evaluation import Series
from appliance.alerting.rules import Rule
from appliance.health.models import HealthReport, Level, ServiceStatus
from appliance.storage.models import StorageReport
from appliance.vitals.catalog import scalar_metrics
from appliance.vitals.models import SystemVitals, VitalsStatus
from appliance.vitals.units import UnitCpu, UnitCpuReader

log = logging.getLogger(__name__)

Facts = dict[str, list[Series]]
LEVEL_VALUE = {Level.OK: 0.0, Level.WARNING: 1.0, Level.CRITICAL: 2.0}
#: Pool states in which it serves no data (zpoolconcepts(7)).
LOST = frozenset({"FAULTED", "UNAVAIL", "REMOVED", "SUSPENDED"})


def _add(facts: Facts, metric: str, labels: dict[str, str], value: float) -> None:
    facts.setdefault(metric, []).append(Series(labels, float(value)))


def vitals_facts(vitals: SystemVitals | None, facts: Facts) -> None:
    if vitals is None:
        return
    host = {"service": "host"}
    for name, value in scalar_metrics(vitals).items():
        _add(facts, name, host, value)
    _add(facts, "host_critical_load", host, vitals.status is VitalsStatus.CRITICAL_LOAD)
    for disk in vitals.disks:
        labels = {"mountpoint": disk.mountpoint}
        _add(facts, "disk_percent", labels, disk.percent)
        if disk.mountpoint == "/":
            _add(facts, "root_fs_percent", labels, disk.percent)


def unit_facts(units: Sequence[UnitCpu], facts: Facts) -> None:
    for u in units:
        labels = {"service": u.service, "unit": u.unit}
        _add(facts, "cpu_percent", labels, u.cpu_percent)
        _add(facts, "cpu_core_percent", labels, u.cpu_core_percent)


def health_facts(report: HealthReport | None, facts: Facts) -> None:
    if report is None:
        return
    for name, result in report.services.items():
        labels = {"service": name}
        down = result.status is ServiceStatus.DOWN
        _add(facts, "service_up", labels, result.status is ServiceStatus.UP)
        _add(facts, "service_down", labels, down)
        _add(facts, "service_level", labels, LEVEL_VALUE[result.level])
        _add(facts, "service_latency_ms", labels, result.latency_ms)
        if result.critical:
            _add(facts, "critical_service_down", labels, down)
    backups = report.services.get("backups")
    if backups is not None:  # appliance/health/backups.py: one entry per deployed kind
        for kind, entry in backups.details.items():
            labels = {"kind": kind}
            _add(facts, "backup_problem", labels, not entry.get("ok", True))
            if entry.get("age_s") is not None:
                _add(facts, "backup_age_seconds", labels, entry["age_s"])


def storage_facts(report: StorageReport | None, facts: Facts) -> None:
    if report is None:
        return
    for pool in report.pools:
        labels = {"pool": pool.name}
        health = pool.health.upper()
        errors = {
            "pool_scrub_errors": pool.scrub_errors,
            "pool_read_errors": pool.read_errors,
            "pool_write_errors": pool.write_errors,
            "pool_checksum_errors": pool.checksum_errors,
        }
        _add(facts, "pool_capacity_percent", labels, pool.capacity_percent)
        _add(facts, "pool_degraded", {**labels, "state": health}, health == "DEGRADED")
        _add(facts, "pool_faulted", {**labels, "state": health}, health in LOST)
        for metric, value in errors.items():
            _add(facts, metric, labels, value)
        _add(facts, "pool_errors_total", labels, sum(errors.values()))
        for dataset in pool.datasets:
            used = [p for p in (dataset.quota_percent, dataset.refquota_percent) if p is not None]
            if used:
                ds = {**labels, "dataset": dataset.name}
                _add(facts, "dataset_quota_percent", ds, max(used))


class CertificateReader:
    """Days left on each PEM certificate, re-read only when its file changes."""

    def __init__(self, paths: Sequence[Path], clock: Callable[[], float] = time.time) -> None:
        self._paths = list(paths)
        self._clock = clock
        self._expiry: dict[Path, tuple[float, float | None]] = {}  # path → (mtime, not after)

    def _not_after(self, path: Path) -> float | None:
        try:
            mtime = path.stat().st_mtime
        except OSError:
            return None  # not on this host: no data
        cached = self._expiry.get(path)
        if cached is not None and cached[0] == mtime:
            return cached[1]
        from cryptography import x509

        try:
            cert = x509.load_pem_x509_certificate(path.read_bytes())
            expiry: float | None = cert.not_valid_after_utc.timestamp()
        except (OSError, ValueError) as exc:
            log.warning("certificate %s unreadable: %s", path, exc)
            expiry = None
        self._expiry[path] = (mtime, expiry)
        return expiry

    def facts(self, facts: Facts) -> None:
        now = self._clock()
        for path in self._paths:
            expiry = self._not_after(path)
            if expiry is not None:
                days = round((expiry - now) / 86_400, 2)
                _add(facts, "tls_cert_days_left", {"certificate": str(path)}, days)


class SeriesIndex:
    """A rule's series: its metric's, narrowed to its service when it names one. Built per
    round: each metric's series are grouped by service once, on first use, not filtered again
    for every rule that names a service."""

    def __init__(self, facts: Facts) -> None:
        self._facts = facts
        self._by_service: dict[str, dict[str, list[Series]]] = {}

    def __call__(self, rule: Rule) -> list[Series]:
        series = self._facts.get(rule.metric, [])
        if rule.service is None:
            return series
        by_service = self._by_service.get(rule.metric)
        if by_service is None:
            by_service = self._by_service[rule.metric] = {}
            for s in series:
                service = s.labels.get("service")
                if service is not None:
                    by_service.setdefault(service, []).append(s)
        return by_service.get(rule.service, [])


class AgentFacts:
    """Everything a rule can look at, gathered once per evaluation."""

    def __init__(
        self,
        vitals: Callable[[], SystemVitals | None],
        health: Callable[[], HealthReport | None],
        storage: Callable[[], StorageReport | None],
        certificates: CertificateReader | None = None,
        units: UnitCpuReader | None = None,
        extra: Sequence[Callable[[Facts], None]] = (),
    ) -> None:
        self._vitals = vitals
        self._health = health
        self._storage = storage
        self._certificates = certificates
        self.units = units
        #: Further sources (the broker monitors'), each adding its series to a round's facts.
        self.extra = list(extra)

    def gather(self) -> Facts:
        facts: Facts = {}
        vitals_facts(self._vitals(), facts)
        if self.units is not None:
            try:
                unit_facts(self.units.read(), facts)
            except OSError as exc:  # the cgroup tree unreadable: those rules have no data
                log.warning("service CPU not read: %s", exc)
        health_facts(self._health(), facts)
        storage_facts(self._storage(), facts)
        if self._certificates is not None:
            self._certificates.facts(facts)
        for source in self.extra:
            source(facts)
        return facts
