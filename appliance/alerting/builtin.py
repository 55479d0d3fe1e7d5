"""The appliance's own rules, shipped enabled. They are stored like any rule (seeded when
missing), so an operator changes one by id through the API (its threshold, or ``enabled``);
a changed built-in keeps its changes across restarts and upgrades.

Levels follow TrueNAS and the operator's ``[storage_thresholds]`` (the levels the storage API
reports): pool capacity ``capacity_notice``/``capacity_warning``/``capacity_critical`` (85/90/95
%) as info/warning/critical and dataset quota ``quota_warning``/``quota_critical`` (90/95 %),
each with one point of hysteresis (a pool at 90 % resolves below 89 %, so moving about the line
does not flap). Their ids name the default level (``builtin-pool-capacity-90`` is the warning
class whatever its configured percentage); the ``level`` label is the configured one.

A built-in never changed through the API follows the configuration at every start (seeding
rewrites its threshold, description and labels); one an operator changed keeps its values.
"""

from __future__ import annotations

from typing import Any

from appliance.alerting.rules import Rule
from appliance.brokermon.settings import BrokerMonitorSettings
from appliance.storage.settings import StorageThresholds

#: What a built-in takes from the configuration: rewritten at start while it is unchanged.
CONFIGURED_FIELDS = ("threshold", "description", "labels")

#: What to do first, per alert name (the ``runbook`` annotation).
RUNBOOKS = {
    "PoolCapacity": "zfs list -o space {{ $labels.pool }}: delete snapshots or data, or add a vdev",
    "DatasetQuota": "zfs get quota,refquota,used {{ $labels.dataset }}: raise the quota or "
    "free space",
    "PoolDegraded": "zpool status -x {{ $labels.pool }}: zpool replace the failed device",
    "PoolFaulted": "zpool status -x {{ $labels.pool }}: reconnect the devices, zpool clear",
    "PoolErrors": "zpool status -v {{ $labels.pool }}: check cabling and SMART, then zpool clear",
    "CriticalServiceDown": "GET /api/health: the check's message; journalctl -u the unit",
    "HostCriticalLoad": "GET /api/monitoring/vitals: the reasons and the busiest processes",
    "ZombieProcesses": "ps -eo pid,ppid,stat,comm | awk '$3 ~ /Z/': restart the parent",
    "LeakingProcesses": "GET /api/monitoring/vitals: leak_suspects; restart the process",
    "RootFilesystemFull": "du -xh / | sort -h | tail: logs, caches, old kernels",
    "TlsCertificateExpiring": "re-run the deploy (roles/pki renews) or replace the file",
    "BackupProblem": "sovereign backup status INVENTORY, then journalctl -u the kind's unit "
    "(docs/disaster-recovery.md)",
    "KafkaConsumerLag": "GET /api/monitoring/kafka: the group's lag per topic; is its consumer "
    "running (journalctl -u sovereign-agent)?",
    "E2ELatencyHigh": "GET /api/monitoring/latency; then the broker, the agent's consumer and "
    "PostgreSQL (pg_stat_activity, pg_locks on latency_probes)",
}


def _rule(rule_id: str, name: str, description: str, **fields: Any) -> Rule:
    return Rule.model_validate(
        {
            "id": f"builtin-{rule_id}",
            "name": name,
            "description": description,
            "annotations": {"runbook": RUNBOOKS[name]},
            "builtin": True,
            **fields,
        }
    )


def _capacity(slot: int, percent: float, severity: str) -> Rule:
    """``slot``: the default level, which names the rule; ``percent``: the configured one."""
    return _rule(
        f"pool-capacity-{slot}",
        "PoolCapacity",
        f"Pool {{{{ $labels.pool }}}} is {{{{ $value }}}} % full (>= {percent:g} %)",
        severity=severity,
        metric="pool_capacity_percent",
        condition=">=",
        threshold=percent,
        hysteresis=1.0,
        labels={"level": f"{percent:g}"},
    )


def _quota(slot: int, percent: float, severity: str) -> Rule:
    return _rule(
        f"dataset-quota-{slot}",
        "DatasetQuota",
        f"Dataset {{{{ $labels.dataset }}}} uses {{{{ $value }}}} % of its quota "
        f"(>= {percent:g} %)",
        severity=severity,
        metric="dataset_quota_percent",
        condition=">=",
        threshold=percent,
        hysteresis=1.0,
        labels={"level": f"{percent:g}"},
    )


def _flag(rule_id: str, name: str, description: str, metric: str, **fields: Any) -> Rule:
    """A 0/1 fact: fires while it is 1."""
    return _rule(rule_id, name, description, metric=metric, condition="==", threshold=1, **fields)


def builtin_rules(
    thresholds: StorageThresholds | None = None, monitors: BrokerMonitorSettings | None = None
) -> list[Rule]:
    """The built-in rules, their storage levels from ``[storage_thresholds]``, the lag and
    latency ones from ``[brokermon]``."""
    t = thresholds or StorageThresholds()
    m = monitors or BrokerMonitorSettings()
    return [
        _capacity(85, t.capacity_notice, "info"),
        _capacity(90, t.capacity_warning, "warning"),
        _capacity(95, t.capacity_critical, "critical"),
        _quota(90, t.quota_warning, "warning"),
        _quota(95, t.quota_critical, "critical"),
        _flag(
            "pool-degraded",
            "PoolDegraded",
            "Pool {{ $labels.pool }} is DEGRADED: a device failed; replace it",
            "pool_degraded",
            severity="critical",
        ),
        _flag(
            "pool-faulted",
            "PoolFaulted",
            "Pool {{ $labels.pool }} is {{ $labels.state }}: its data cannot be reached",
            "pool_faulted",
            severity="critical",
        ),
        _rule(
            "pool-errors",
            "PoolErrors",
            "Pool {{ $labels.pool }} has {{ $value }} scrub, read, write or checksum errors",
            severity="error",
            metric="pool_errors_total",
            threshold=0,
        ),
        _flag(
            "critical-service-down",
            "CriticalServiceDown",
            "Critical service {{ $labels.service }} is down (PostgreSQL, Vault sealed, the "
            "broker, ZFS pools...)",
            "critical_service_down",
            severity="critical",
        ),
        _flag(
            "host-critical-load",
            "HostCriticalLoad",
            "The host is at CRITICAL_LOAD (CPU, memory, swap, load or disk past critical)",
            "host_critical_load",
            severity="critical",
            **{"for": 60},
        ),
        _rule(
            "zombie-processes",
            "ZombieProcesses",
            "{{ $value }} zombie processes: a parent does not reap its children",
            severity="warning",
            metric="zombie_count",
            condition=">=",
            threshold=5,
            **{"for": 300},
        ),
        _rule(
            "leaking-processes",
            "LeakingProcesses",
            "{{ $value }} processes whose memory grew steadily (see /api/monitoring/vitals)",
            severity="warning",
            metric="leak_suspect_count",
            threshold=0,
        ),
        _rule(
            "root-filesystem",
            "RootFilesystemFull",
            "The root file system is {{ $value }} % full",
            severity="error",
            metric="root_fs_percent",
            threshold=90,
            hysteresis=1.0,
        ),
        _flag(
            "backup-problem",
            "BackupProblem",
            "Backup {{ $labels.kind }} failed or is older than its schedule allows",
            "backup_problem",
            severity="error",
            **{"for": 300},
        ),
        _rule(
            "tls-certificate-expiry",
            "TlsCertificateExpiring",
            "Certificate {{ $labels.certificate }} expires in {{ $value }} days",
            severity="warning",
            metric="tls_cert_days_left",
            condition="<",
            threshold=30,
        ),
        _rule(
            "kafka-consumer-lag",
            "KafkaConsumerLag",
            "Consumer group {{ $labels.group }} is {{ $value }} messages behind on "
            f"{{{{ $labels.topic }}}} (> {m.kafka.lag_threshold:g})",
            severity="warning",
            metric="kafka_consumer_lag",
            threshold=m.kafka.lag_threshold,
            **{"for": 120},
        ),
        _rule(
            "e2e-latency",
            "E2ELatencyHigh",
            "Event ingest to PostgreSQL commit p99 is {{ $value }} ms "
            f"(> {m.latency.threshold_ms:g} ms)",
            severity="warning",
            metric="e2e_latency_p99_ms",
            threshold=m.latency.threshold_ms,
        ),
    ]
