"""Health check over the ZFS pools and their datasets."""

from __future__ import annotations

from typing import Any

from appliance.errors import BackendUnavailable
from appliance.health.models import Level, Probe, ServiceStatus
from appliance.health.registry import BlockingCheck
from appliance.storage.levels import LOST_HEALTH
from appliance.storage.models import DatasetReport, PoolReport
from appliance.storage.service import StorageService


class ZfsPoolsCheck(BlockingCheck):
    """Down when ZFS cannot be read or a pool is FAULTED/UNAVAIL/SUSPENDED. Degraded but at
    level critical (the appliance unhealthy) when a pool that lost members has no redundancy
    left: it still serves, one more loss loses data. Degraded (a warning) when a pool is
    DEGRADED with redundancy left, has errors, is past a capacity class (85/90/95 %), or a
    dataset is past its quota or disk thresholds; the storage API tells each level."""

    name = "zfs"

    def __init__(self, storage: StorageService) -> None:
        self._storage = storage

    def probe_blocking(self) -> Probe:
        try:
            report = self._storage.check_storage_quota()
        except BackendUnavailable as exc:
            return Probe(ServiceStatus.DOWN, str(exc))
        if not report.pools:
            return Probe(ServiceStatus.DEGRADED, "no pool imported", {"backend": report.backend})
        details: dict[str, Any] = {
            "backend": report.backend,
            "pools": {p.name: p.health for p in report.pools},
            "levels": {p.name: p.level.value for p in report.pools},
            "redundancy_remaining": {p.name: p.redundancy_remaining for p in report.pools},
        }
        problems: list[str] = []
        level = Level.OK
        for pool in report.pools:
            if pool.health in LOST_HEALTH:
                return Probe(ServiceStatus.DOWN, f"pool {pool.name} is {pool.health}", details)
            if pool.redundancy_level is Level.CRITICAL:
                level = Level.CRITICAL
            problems += _pool_problems(pool)
            for dataset in pool.datasets:
                problems += _dataset_problems(dataset, pool.free_bytes)
        flagged = {d.name: d.level.value for p in report.pools for d in p.datasets if d.level.rank}
        if flagged:
            details["datasets"] = flagged
        if not problems:
            return Probe(ServiceStatus.UP, "", details)
        # Critical only for lost redundancy: a full pool or dataset is an alert, not an outage.
        return Probe(
            ServiceStatus.DEGRADED,
            "; ".join(problems),
            details,
            level=Level.CRITICAL if level is Level.CRITICAL else Level.WARNING,
        )


def _pool_problems(pool: PoolReport) -> list[str]:
    problems: list[str] = []
    if pool.redundancy_level is Level.CRITICAL:
        lost = ", ".join(pool.lost_devices) or "members lost"
        problems.append(f"pool {pool.name} has no redundancy left ({pool.redundancy}: {lost})")
    elif pool.health != "ONLINE":
        left = pool.redundancy_remaining
        extra = f", {left} more loss{'es' if left != 1 else ''} tolerated" if left else ""
        problems.append(f"pool {pool.name} is {pool.health}{extra}")
    if pool.read_errors or pool.write_errors or pool.checksum_errors or pool.scrub_errors:
        problems.append(f"pool {pool.name} has I/O or checksum errors")
    if pool.capacity_threshold is not None:
        problems.append(
            f"pool {pool.name} is {pool.capacity_percent:.0f} % full "
            f"({pool.capacity_level.value} at {pool.capacity_threshold:g} %)"
        )
    return problems


def _dataset_problems(dataset: DatasetReport, pool_free: int) -> list[str]:
    problems: list[str] = []
    rows = [
        ("of its quota", dataset.quota_percent, dataset.quota_level),
        ("of its refquota", dataset.refquota_percent, dataset.refquota_level),
    ]
    # A dataset that may use all the pool's free space is as full as the pool, which is
    # reported once above; only a dataset bounded by a quota (its own or an ancestor's) is.
    if dataset.available_bytes < pool_free:
        rows.append(("full", dataset.space_percent, dataset.space_level))
    for what, percent, level in rows:
        if level is not Level.OK and percent is not None:
            problems.append(f"dataset {dataset.name} at {percent:.0f} % {what} ({level.value})")
    return problems
