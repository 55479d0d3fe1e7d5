"""Pure storage arithmetic on ``zfs get -Hp`` properties.

Usable size is the root dataset's used + available: raw ``zpool list`` size counts parity on
RAID-Z and would overstate what can be stored by the parity share.
"""

from __future__ import annotations

from collections.abc import Mapping

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


def dataset_report(name: str, props: Mapping[str, str]) -> DatasetReport:
    used = _int(props, "used")
    referenced = _int(props, "referenced")
    quota = _limit(props, "quota")
    refquota = _limit(props, "refquota")
    return DatasetReport(
        name=name,
        used_bytes=used,
        available_bytes=_int(props, "available"),
        referenced_bytes=referenced,
        quota_bytes=quota,
        refquota_bytes=refquota,
        # quota bounds the dataset with its children and snapshots; refquota only its own data.
        quota_percent=percent(used, quota),
        refquota_percent=percent(referenced, refquota),
    )


def pool_report(pool: PoolState, datasets: Mapping[str, Mapping[str, str]]) -> PoolReport:
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
        capacity_percent=percent(used, size) or 0.0,
        scrub_state=pool.scan_state,
        scrub_errors=pool.scan_errors,
        read_errors=pool.read_errors,
        write_errors=pool.write_errors,
        checksum_errors=pool.checksum_errors,
        errors=pool.errors_text,
        datasets=[dataset_report(name, datasets[name]) for name in own],
    )
