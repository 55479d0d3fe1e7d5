from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from appliance.health.models import Level

_ATTRS = ConfigDict(from_attributes=True)


class DatasetOut(BaseModel):
    model_config = _ATTRS
    name: str = Field(description="Dataset name, pool/child/….")
    used_bytes: int = Field(description="Space used by the dataset and its descendants.")
    available_bytes: int = Field(description="Space the dataset can still use.")
    referenced_bytes: int = Field(description="Data the dataset itself references.")
    quota_bytes: int | None = Field(description="quota (dataset + descendants); null: none.")
    refquota_bytes: int | None = Field(description="refquota (own data only); null: none.")
    quota_percent: float | None = Field(description="used / quota * 100; null without quota.")
    refquota_percent: float | None = Field(
        description="referenced / refquota * 100; null without refquota."
    )
    quota_level: Level = Field(
        description="ok, warning (>= storage_thresholds.quota_warning, 90) or critical "
        "(>= quota_critical, 95); ok without quota."
    )
    refquota_level: Level = Field(description="As quota_level, for refquota_percent.")
    mountpoint: str | None = Field(description="Where it is mounted; null when it is not.")
    space_percent: float | None = Field(
        description="used / (used + available) * 100: how full the space it may use is "
        "(ZFS accounting: children and snapshots count, quotas bound it)."
    )
    space_level: Level = Field(
        description="space_percent against the host's disk thresholds (thresholds."
        "disk_warning 85, disk_critical 95): the vitals' disk levels, for the ZFS mounts. ok "
        "when the dataset has a quota of its own: quota_level judges it then."
    )
    level: Level = Field(description="The worst of quota_level, refquota_level, space_level.")


class PoolOut(BaseModel):
    model_config = _ATTRS
    name: str = Field(description="Pool name.")
    health: str = Field(description="ONLINE, DEGRADED, FAULTED, UNAVAIL…")
    redundancy: str = Field(description="raidz1/2/3, mirror, stripe, mixed.")
    size_bytes: int = Field(description="Usable size: root dataset used + available (no parity).")
    used_bytes: int = Field(description="Used, root dataset accounting.")
    free_bytes: int = Field(description="Available to data, root dataset accounting.")
    size_tb: float = Field(description="size_bytes in TB (10^12).")
    used_tb: float = Field(description="used_bytes in TB (10^12).")
    free_tb: float = Field(description="free_bytes in TB (10^12).")
    capacity_percent: float = Field(description="used / usable size * 100.")
    scrub_state: str = Field(description="none, scrub_in_progress, scrub_finished, resilver_…")
    scrub_errors: int = Field(description="Errors the last scan reported.")
    read_errors: int = Field(description="READ errors summed over the pool's devices.")
    write_errors: int = Field(description="WRITE errors summed over the pool's devices.")
    checksum_errors: int = Field(description="CKSUM errors summed over the pool's devices.")
    errors: str = Field(description="The 'errors:' line of zpool status.")
    redundancy_remaining: int | None = Field(
        description="Member losses the pool still survives: per data vdev its parity (raidzN: "
        "N, mirror: width - 1, disk: 0) minus members FAULTED/OFFLINE/UNAVAIL/REMOVED, the "
        "minimum over vdevs; below 0 data is lost. null: unknown."
    )
    lost_devices: list[str] = Field(description="Data members zpool marks lost, with state.")
    redundancy_level: Level = Field(
        description="critical when a pool that lost members has none left, warning while it "
        "has some; ok when ONLINE."
    )
    capacity_level: Level = Field(
        description="warning from capacity_notice (85) and capacity_warning (90), critical "
        "from capacity_critical (95), as TrueNAS' capacity classes."
    )
    capacity_threshold: float | None = Field(
        description="The highest capacity class crossed (85, 90 or 95 by default); null below."
    )
    level: Level = Field(
        description="The worst of health (DEGRADED: warning, FAULTED: critical), "
        "redundancy_level and capacity_level."
    )


class PoolsOut(BaseModel):
    backend: str = Field(description="cli or libzfs.")
    checked_at: float = Field(description="Unix time ZFS was read.")
    capabilities: dict[str, bool] = Field(description="Detected backend capabilities.")
    pools: list[PoolOut] = Field(description="Imported pools.")


class PoolQuotaOut(PoolOut):
    datasets: list[DatasetOut] = Field(description="The pool's file systems and volumes.")


class QuotaOut(BaseModel):
    backend: str = Field(description="cli or libzfs.")
    checked_at: float = Field(description="Unix time ZFS was read.")
    pools: list[PoolQuotaOut] = Field(description="Pools with per-dataset quota use.")
