"""Health check over the ZFS pools."""

from __future__ import annotations

from appliance.errors import BackendUnavailable
from appliance.health.models import Probe, ServiceStatus
from appliance.health.registry import BlockingCheck
from appliance.storage.service import StorageService

CAPACITY_DEGRADED = 85.0


class ZfsPoolsCheck(BlockingCheck):
    """Down when ZFS cannot be read or a pool is FAULTED/UNAVAIL; degraded when a pool is
    DEGRADED, has errors or is fuller than 85 %."""

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
        problems: list[str] = []
        status = ServiceStatus.UP
        for pool in report.pools:
            if pool.health in ("FAULTED", "UNAVAIL", "SUSPENDED"):
                return Probe(ServiceStatus.DOWN, f"pool {pool.name} is {pool.health}")
            if pool.health != "ONLINE":
                problems.append(f"pool {pool.name} is {pool.health}")
            if pool.read_errors or pool.write_errors or pool.checksum_errors or pool.scrub_errors:
                problems.append(f"pool {pool.name} has I/O or checksum errors")
            if pool.capacity_percent >= CAPACITY_DEGRADED:
                problems.append(f"pool {pool.name} is {pool.capacity_percent:.0f} % full")
        if problems:
            status = ServiceStatus.DEGRADED
        details = {
            "backend": report.backend,
            "pools": {p.name: p.health for p in report.pools},
        }
        return Probe(status, "; ".join(problems), details)
