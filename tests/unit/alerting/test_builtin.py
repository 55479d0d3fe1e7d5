"""The built-in rules over the agent's facts, through the real evaluator and a SQLite file:
pool capacity with hysteresis (89.5 % <-> 90.5 % twenty times is one warning), a degraded
pool, a critical service down, certificates near expiry, and an override that survives the
seeding of the next start."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from appliance.alerting.history import HistoryQuery
from appliance.alerting.models import Alert, AlertLevel, AlertStatus
from appliance.alerting.rules import RuleUpdate
from appliance.alerting.service import AlertingService
from appliance.alerting.settings import EvaluationSettings
from appliance.alerting.sources import AgentFacts, CertificateReader
from appliance.database.connect import open_sqlite
from appliance.database.repository import Store
from appliance.health.models import CheckResult, HealthReport, OverallStatus, ServiceStatus
from appliance.storage.models import DatasetReport, PoolReport, StorageReport
from appliance.storage.settings import StorageThresholds

S = AlertStatus


@dataclass
class RecordingSink:
    """Stands in for the dispatcher (the other half): keeps what was submitted."""

    alerts: list[Alert] = field(default_factory=list)

    def submit(self, alert: Alert) -> None:
        self.alerts.append(alert)


def pool(name: str = "tank", capacity: float = 50.0, health: str = "ONLINE") -> PoolReport:
    return PoolReport(
        name=name, health=health, redundancy="mirror", size_bytes=100, used_bytes=int(capacity),
        free_bytes=100 - int(capacity), size_tb=0.0, used_tb=0.0, free_tb=0.0,
        capacity_percent=capacity, scrub_state="finished", scrub_errors=0, read_errors=0,
        write_errors=0, checksum_errors=0, errors="No known data errors", datasets=[],
    )  # fmt: skip


@dataclass
class Host:
    """The facts the evaluator reads, set by each test."""

    pools: list[PoolReport] = field(default_factory=lambda: [pool()])
    health: dict[str, CheckResult] = field(default_factory=dict)

    def storage(self) -> StorageReport:
        return StorageReport("cli", 0.0, self.pools, {})

    def report(self) -> HealthReport | None:
        return HealthReport(OverallStatus.HEALTHY, self.health, 0.0) if self.health else None


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = open_sqlite(tmp_path / "agent.db")
    store.prepare()
    yield store
    store.close()


def service(
    store: Store,
    host: Host,
    sink: RecordingSink,
    certificates: list[Path] | None = None,
    thresholds: StorageThresholds | None = None,
) -> AlertingService:
    facts = AgentFacts(
        lambda: None, host.report, host.storage, CertificateReader(certificates or [])
    )
    return AlertingService.build(
        EvaluationSettings(), store, facts.gather, sink, thresholds=thresholds
    )


def firing_of(svc: AlertingService, rule_id: str) -> list[tuple[S, S]]:
    entries, _ = svc.history(HistoryQuery(rule_id=rule_id, limit=500))
    return [(e.previous, e.status) for e in reversed(entries)]


#: The defaults, and an operator's [storage_thresholds] with its warning at 80 %.
CONFIGURED = StorageThresholds(capacity_notice=70, capacity_warning=80, capacity_critical=88)


@pytest.mark.parametrize("thresholds", [StorageThresholds(), CONFIGURED], ids=["90", "80"])
def test_pool_capacity_at_the_edge_twenty_times_is_one_warning(
    store: Store, thresholds: StorageThresholds
) -> None:
    host, sink = Host(), RecordingSink()
    svc = service(store, host, sink, thresholds=thresholds)
    edge, now = thresholds.capacity_warning, 1000.0
    for _ in range(20):
        for capacity in (edge + 0.5, edge - 0.5):
            host.pools = [pool(capacity=capacity)]
            svc.evaluate_once(now)
            now += 15
    assert firing_of(svc, "builtin-pool-capacity-90") == [(S.INACTIVE, S.FIRING)]
    warnings = [a for a in sink.alerts if a.severity is AlertLevel.WARNING]
    assert {a.fingerprint for a in warnings} == {warnings[0].fingerprint}  # one alert
    assert {a.starts_at for a in warnings} == {1000.0}  # submitted again while firing
    assert {a.labels["level"] for a in warnings} == {f"{edge:g}"}
    assert all(a.status is S.FIRING for a in sink.alerts)
    host.pools = [pool(capacity=edge - 1.1)]  # more than a point below: now it resolves
    svc.evaluate_once(now)
    assert firing_of(svc, "builtin-pool-capacity-90")[-1] == (S.FIRING, S.RESOLVED)


def test_capacity_levels_each_fire_with_their_severity(store: Store) -> None:
    host, sink = Host(pools=[pool(capacity=96.0)]), RecordingSink()
    service(store, host, sink).evaluate_once(1000.0)
    levels = sorted((a.labels["level"], a.severity.value) for a in sink.alerts)
    assert levels == [("85", "info"), ("90", "warning"), ("95", "critical")]


def test_capacity_and_quota_levels_follow_the_configured_thresholds(store: Store) -> None:
    """A pool at 85 % is critical under CONFIGURED (88 is not reached: 85 >= 80 warning,
    >= 70 notice); a dataset at 86 % of its quota crosses a configured 85 % warning."""
    configured = CONFIGURED.model_copy(update={"quota_warning": 85.0, "quota_critical": 92.0})
    home = DatasetReport("tank/home", 86, 14, 86, 100, None, 86.0, None)
    tank = replace(pool(capacity=85.0), datasets=[home])
    host, sink = Host(pools=[tank]), RecordingSink()
    service(store, host, sink, thresholds=configured).evaluate_once(1000.0)
    fired = sorted(
        (a.labels["alertname"], a.labels["level"], a.severity.value) for a in sink.alerts
    )
    assert fired == [
        ("DatasetQuota", "85", "warning"),
        ("PoolCapacity", "70", "info"),
        ("PoolCapacity", "80", "warning"),
    ]


def test_unchanged_builtins_follow_a_new_configuration_changed_ones_keep_theirs(
    store: Store,
) -> None:
    host, sink = Host(pools=[pool(capacity=82.0)]), RecordingSink()
    first = service(store, host, sink)
    first.seed()
    first.update("builtin-pool-capacity-95", RuleUpdate(threshold=97))  # the operator's
    again = service(store, host, sink, thresholds=CONFIGURED)  # the next start, new config
    assert again.seed() == 0
    rules = {r.rule.id: r.rule for r in again.rules()}
    warning, critical = rules["builtin-pool-capacity-90"], rules["builtin-pool-capacity-95"]
    assert (warning.threshold, warning.labels, warning.description) == (
        80.0, {"level": "80"}, "Pool {{ $labels.pool }} is {{ $value }} % full (>= 80 %)",
    )  # fmt: skip
    assert (critical.threshold, critical.labels) == (97.0, {"level": "95"})
    again.evaluate_once(1000.0)
    assert [a.labels["level"] for a in sink.alerts if a.rule_id == warning.id] == ["80"]


def test_a_degraded_pool_is_critical_and_resolves_when_online_again(store: Store) -> None:
    host, sink = Host(pools=[pool(health="DEGRADED")]), RecordingSink()
    svc = service(store, host, sink)
    svc.evaluate_once(1000.0)
    (alert,) = [a for a in sink.alerts if a.rule_id == "builtin-pool-degraded"]
    assert (alert.severity, alert.labels["pool"]) == (AlertLevel.CRITICAL, "tank")
    assert "zpool replace" in alert.annotations["runbook"]
    host.pools = [pool()]
    svc.evaluate_once(1015.0)
    assert firing_of(svc, "builtin-pool-degraded") == [
        (S.INACTIVE, S.FIRING),
        (S.FIRING, S.RESOLVED),
    ]


def check(name: str, status: ServiceStatus, critical: bool = True) -> CheckResult:
    return CheckResult(name, status, 1.0, 0.0, critical)


def test_a_critical_service_down_fires_a_non_critical_one_does_not(store: Store) -> None:
    host, sink = Host(), RecordingSink()
    host.health = {
        "postgres": check("postgres", ServiceStatus.DOWN),
        "nextcloud": check("nextcloud", ServiceStatus.DOWN, critical=False),
        "vault": check("vault", ServiceStatus.UP),
    }
    service(store, host, sink).evaluate_once(1000.0)
    down = [
        a.labels["service"] for a in sink.alerts if a.rule_id == "builtin-critical-service-down"
    ]
    assert down == ["postgres"]


def test_a_failed_or_stale_backup_kind_fires_after_five_minutes(store: Store) -> None:
    """The `backups` check's details (appliance/health/backups.py) per kind: a problem that
    lasts 5 minutes fires BackupProblem (error) for that kind, and resolves when it is gone."""
    host, sink = Host(), RecordingSink()
    details = {
        "postgres": {"ok": False, "last_success": None, "age_s": 11000, "problems": ["stale"]},
        "vault": {"ok": True, "last_success": None, "age_s": 60, "problems": []},
    }
    host.health = {
        "backups": CheckResult(
            "backups", ServiceStatus.DEGRADED, 1.0, 0.0, False, "postgres: stale", details
        )
    }
    svc = service(store, host, sink)
    svc.evaluate_once(1000.0)
    assert firing_of(svc, "builtin-backup-problem") == [(S.INACTIVE, S.PENDING)]
    svc.evaluate_once(1301.0)
    fired = [a for a in sink.alerts if a.rule_id == "builtin-backup-problem"]
    assert [(a.labels["kind"], a.severity) for a in fired] == [("postgres", "error")]
    host.health = {
        "backups": CheckResult(
            "backups", ServiceStatus.UP, 1.0, 0.0, False, "",
            {"postgres": {**details["postgres"], "ok": True}},
        )
    }  # fmt: skip
    svc.evaluate_once(1302.0)
    assert firing_of(svc, "builtin-backup-problem")[-1] == (S.FIRING, S.RESOLVED)


def certificate(path: Path, days: int) -> Path:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "edge")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(1).not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=days)).sign(key, hashes.SHA256())
    )  # fmt: skip
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


def test_a_certificate_within_30_days_of_expiry_fires(store: Store, tmp_path: Path) -> None:
    soon = certificate(tmp_path / "edge.crt", 10)
    later = certificate(tmp_path / "ca.crt", 300)
    sink = RecordingSink()
    service(store, Host(), sink, [soon, later, tmp_path / "absent.crt"]).evaluate_once()
    (alert,) = [a for a in sink.alerts if a.rule_id == "builtin-tls-certificate-expiry"]
    assert alert.labels["certificate"] == str(soon)
    assert alert.value is not None and 9 < alert.value <= 10


def test_an_override_by_id_survives_the_next_start(store: Store) -> None:
    host, sink = Host(pools=[pool(capacity=80.0)]), RecordingSink()
    svc = service(store, host, sink)
    svc.seed()
    svc.update("builtin-pool-capacity-85", RuleUpdate(threshold=75))
    svc.update("builtin-pool-degraded", RuleUpdate(enabled=False))
    again = service(store, Host(pools=[pool(capacity=80.0, health="DEGRADED")]), sink)
    assert again.seed() == 0
    again.evaluate_once(1000.0)
    assert {a.rule_id for a in sink.alerts} == {"builtin-pool-capacity-85"}
    rule = again.rule("builtin-pool-capacity-85").rule
    assert (rule.threshold, rule.builtin) == (75.0, True)


def test_each_transition_is_published_on_sovereign_alerts(store: Store) -> None:
    host, sink = Host(pools=[pool(health="DEGRADED")]), RecordingSink()
    events: list[tuple[str, dict[str, object], str]] = []
    facts = AgentFacts(lambda: None, host.report, host.storage)
    svc = AlertingService.build(
        EvaluationSettings(), store, facts.gather, sink, lambda *event: events.append(event)
    )
    svc.evaluate_once(1000.0)
    svc.evaluate_once(1015.0)  # still degraded: no transition, nothing published
    host.pools = [pool()]
    svc.evaluate_once(1030.0)
    degraded = [(t, e["previous"], e["status"], e["at"], k) for t, e, k in events
                if e["rule_id"] == "builtin-pool-degraded"]  # fmt: skip
    fp = degraded[0][4]
    assert degraded == [
        ("sovereign.alerts", "inactive", "firing", 1000.0, fp),
        ("sovereign.alerts", "firing", "resolved", 1030.0, fp),
    ]
    entries, _ = svc.history(HistoryQuery())
    assert len(events) == len(entries)  # every transition recorded is published, and only those
