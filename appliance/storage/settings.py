"""Storage settings: the ``[storage_thresholds]`` table of the agent's config."""

from __future__ import annotations

from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator


class StorageThresholds(BaseModel):
    """Percent levels for ZFS space. Pool capacity follows TrueNAS' classes: a notice at 85 %,
    a warning at 90 % (both level ``warning``), critical at 95 %. A dataset's own fullness
    (used / (used + available)) is judged by the vitals' ``disk_warning``/``disk_critical``,
    so the host's disk thresholds apply to the ZFS mounts too."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    quota_warning: float = Field(default=90.0, gt=0, le=100, description="used / quota, %.")
    quota_critical: float = Field(default=95.0, gt=0, le=100)
    capacity_notice: float = Field(
        default=85.0, gt=0, le=100, description="Pool used / usable size, %: level warning."
    )
    capacity_warning: float = Field(default=90.0, gt=0, le=100)
    capacity_critical: float = Field(default=95.0, gt=0, le=100)

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if not self.quota_warning < self.quota_critical:
            raise ValueError("storage_thresholds.quota_warning must be below quota_critical")
        if not self.capacity_notice <= self.capacity_warning < self.capacity_critical:
            raise ValueError(
                "storage_thresholds: capacity_notice <= capacity_warning < capacity_critical"
            )
        return self
