"""Pure storage arithmetic on ``zfs get -Hp`` properties.

Usable size is the root dataset's used + available: raw ``zpool list`` size counts parity on
RAID-Z and would overstate what can be stored by the parity share.
"""

from __future__ import annotations

from collections.abc import Mapping

from appliance.health.models import Level, worst_level
from appliance.storage.levels import (
    DEFAULT_LIMITS,
    LevelLimits,
    capacity_level,
    health_level,
    percent_level,
    redundancy_level,
)
from appliance.storage.models import TB, DatasetReport, PoolReport, PoolState


def _int(props: Mapping[str, str], key: str) -> int:
    value = props.get(key, "0")
    return int(value) if value.isdigit() else 0


def _limit(props: Mapping[str, str], key: str) -> int | None:
    """quota/refquota: ``0`` (``-p``) or ``none`` means no limit."""
    value = props.get(key, "0")
    number = int(value) if value.isdigit() else 0
    return number or None


def percent(part: int, whole: int | None) -> float | None:
    if not whole:
        return None
    return round(part / whole * 100, 2)


def _mountpoint(props: Mapping[str, str]) -> str | None:
    value = props.get("mountpoint", "")
    if not value.startswith("/") or props.get("mounted", "yes") != "yes":
        return None  # none, legacy, "-" (volumes) or not mounted now
    return value


def dataset_report(
    name: str, props: Mapping[str, str], limits: LevelLimits = DEFAULT_LIMITS
) -> DatasetReport:
    used = _int(props, "used")
    available = _int(props, "available")
    referenced = _int(props, "referenced")
    quota = _limit(props, "quota")
    refquota = _limit(props, "refquota")
    t = limits.storage
    # quota bounds the dataset with its children and snapshots; refquota only its own data.
    quota_percent = percent(used, quota)
    refquota_percent = percent(referenced, refquota)
    # ZFS' own accounting, not statvfs: counts children and snapshots, and the quota (or the
    # pool's free space) through `available`.
    space_percent = percent(used, used + available)
    # With a quota of its own, its fullness is the quota's, judged by the quota thresholds;
    # without one, the host's disk thresholds apply, as to any other mount.
    space_level = (
        percent_level(space_percent, limits.space_warning, limits.space_critical)
        if quota is None
        else Level.OK
    )
    levels = (
        percent_level(quota_percent, t.quota_warning, t.quota_critical),
        percent_level(refquota_percent, t.quota_warning, t.quota_critical),
        space_level,
    )
    return DatasetReport(
        name=name,
        used_bytes=used,
        available_bytes=available,
        referenced_bytes=referenced,
        quota_bytes=quota,
        refquota_bytes=refquota,
        quota_percent=quota_percent,
        refquota_percent=refquota_percent,
        quota_level=levels[0],
        refquota_level=levels[1],
        mountpoint=_mountpoint(props),
        space_percent=space_percent,
        space_level=levels[2],
        level=worst_level(levels),
    )


def pool_report(
    pool: PoolState,
    datasets: Mapping[str, Mapping[str, str]],
    limits: LevelLimits = DEFAULT_LIMITS,
) -> PoolReport:
    root = datasets.get(pool.name, {})
    used = _int(root, "used")
    free = _int(root, "available")
    size = used + free
    own = sorted(
        name
        for name, props in datasets.items()
        if (name == pool.name or name.startswith(pool.name + "/"))
        and props.get("type", "filesystem") in ("filesystem", "volume")
    )
    capacity = percent(used, size) or 0.0
    capacity_lvl, capacity_class = capacity_level(capacity, limits.storage)
    redundancy_lvl = redundancy_level(pool.health, pool.redundancy_remaining)
    return PoolReport(
        name=pool.name,
        health=pool.health,
        redundancy=pool.redundancy,
        size_bytes=size,
        used_bytes=used,
        free_bytes=free,
        size_tb=round(size / TB, 4),
        used_tb=round(used / TB, 4),
        free_tb=round(free / TB, 4),
        capacity_percent=capacity,
        scrub_state=pool.scan_state,
        scrub_errors=pool.scan_errors,
        read_errors=pool.read_errors,
        write_errors=pool.write_errors,
        checksum_errors=pool.checksum_errors,
        errors=pool.errors_text,
        datasets=[dataset_report(name, datasets[name], limits) for name in own],
        redundancy_remaining=pool.redundancy_remaining,
        lost_devices=pool.lost_devices,
        redundancy_level=redundancy_lvl,
        capacity_level=capacity_lvl,
        capacity_threshold=capacity_class,
        level=worst_level((health_level(pool.health), redundancy_lvl, capacity_lvl)),
    )
