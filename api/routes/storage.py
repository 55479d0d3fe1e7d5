"""Storage: ZFS pools and dataset quotas (blocking backend: sync handlers run in a thread)."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from api.auth import require
from api.deps import StorageDep
from api.schemas.errors import AUTH_ERRORS
from api.schemas.storage import PoolOut, PoolQuotaOut, PoolsOut, QuotaOut
from appliance.security.roles import Role

router = APIRouter(
    prefix="/api/storage",
    tags=["storage"],
    dependencies=[Depends(require(Role.VIEWER))],
    responses=AUTH_ERRORS,
)


@router.get("/pools", response_model=PoolsOut, responses=AUTH_ERRORS)
def pools(storage: StorageDep) -> PoolsOut:
    """Pool health, redundancy, usable space (no parity), capacity and scrub state."""
    report = storage.check_storage_quota()
    return PoolsOut(
        backend=report.backend,
        checked_at=report.checked_at,
        capabilities=report.capabilities,
        pools=[PoolOut.model_validate(p) for p in report.pools],
    )


@router.get("/quota", response_model=QuotaOut, responses=AUTH_ERRORS)
def quota(storage: StorageDep) -> QuotaOut:
    """Per pool and dataset: used, quota/refquota and the share of the quota in use."""
    report = storage.check_storage_quota()
    return QuotaOut(
        backend=report.backend,
        checked_at=report.checked_at,
        pools=[PoolQuotaOut.model_validate(p) for p in report.pools],
    )
