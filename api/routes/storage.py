"""Storage: ZFS pools and dataset quotas (blocking backend: sync handlers run in a thread)."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import StorageDep
from api.schemas.storage import PoolOut, PoolQuotaOut, PoolsOut, QuotaOut

router = APIRouter(prefix="/api/storage", tags=["storage"])


@router.get("/pools", response_model=PoolsOut, responses={503: {"description": "ZFS unreachable."}})
def pools(storage: StorageDep) -> PoolsOut:
    """Pool health, redundancy, usable space (no parity), capacity and scrub state."""
    report = storage.check_storage_quota()
    return PoolsOut(
        backend=report.backend,
        checked_at=report.checked_at,
        capabilities=report.capabilities,
        pools=[PoolOut.model_validate(p) for p in report.pools],
    )


@router.get("/quota", response_model=QuotaOut, responses={503: {"description": "ZFS unreachable."}})
def quota(storage: StorageDep) -> QuotaOut:
    """Per pool and dataset: used, quota/refquota and the share of the quota in use."""
    report = storage.check_storage_quota()
    return QuotaOut(
        backend=report.backend,
        checked_at=report.checked_at,
        pools=[PoolQuotaOut.model_validate(p) for p in report.pools],
    )
