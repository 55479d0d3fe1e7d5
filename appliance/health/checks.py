"""Checks that ship with the agent itself."""

from __future__ import annotations

import time

from appliance.health.models import Probe, ServiceStatus
from appliance.health.registry import HealthCheck
from appliance.vitals.models import VitalsStatus
from appliance.vitals.sampler import VitalsSampler


class AgentCheck(HealthCheck):
    """The agent's own machinery: sampler alive and fresh, history store writable."""

    name = "agent"

    def __init__(self, sampler: VitalsSampler, interval_s: float) -> None:
        self._sampler = sampler
        # Two missed samples plus slack before calling the sampler stuck.
        self._max_age = 2 * interval_s + 5

    async def probe(self) -> Probe:
        sampled_at = self._sampler.last_sampled_at
        if self._sampler.died or sampled_at is None:
            return Probe(ServiceStatus.DOWN, "vitals sampler not running")
        age = time.monotonic() - sampled_at
        details = {"sample_age_s": round(age, 3)}
        if age > self._max_age:
            return Probe(ServiceStatus.DEGRADED, f"last sample {age:.0f} s old", details)
        if self._sampler.last_error:
            return Probe(ServiceStatus.DEGRADED, self._sampler.last_error, details)
        return Probe(ServiceStatus.UP, "", details)


class HostCheck(HealthCheck):
    """Host load: the vitals status, as a service status. Never critical: load is not an outage."""

    name = "host"
    critical = False

    def __init__(self, sampler: VitalsSampler) -> None:
        self._sampler = sampler

    async def probe(self) -> Probe:
        latest = self._sampler.latest()
        if latest is None:
            return Probe(ServiceStatus.DEGRADED, "no vitals sample yet")
        status = (
            ServiceStatus.UP if latest.status is VitalsStatus.HEALTHY else ServiceStatus.DEGRADED
        )
        return Probe(status, "; ".join(latest.reasons), {"vitals_status": latest.status.value})
