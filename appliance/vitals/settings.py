"""Vitals settings: the ``[thresholds]`` and ``[leak]`` tables of the agent's config."""

from __future__ import annotations

from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator


class VitalsThresholds(BaseModel):
    """Percentages are 0-100; load is the 1-minute load average divided by the core count."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cpu_warning: float = Field(default=85.0, ge=0, le=100)
    cpu_critical: float = Field(default=95.0, ge=0, le=100)
    memory_warning: float = Field(default=85.0, ge=0, le=100)
    memory_critical: float = Field(default=95.0, ge=0, le=100)
    swap_warning: float = Field(default=50.0, ge=0, le=100)
    swap_critical: float = Field(default=80.0, ge=0, le=100)
    load_per_core_warning: float = Field(default=1.5, gt=0)
    load_per_core_critical: float = Field(default=3.0, gt=0)
    disk_warning: float = Field(default=85.0, ge=0, le=100)
    disk_critical: float = Field(default=95.0, ge=0, le=100)
    zombie_warning: int = Field(default=5, ge=1)

    @model_validator(mode="after")
    def _warning_below_critical(self) -> Self:
        for metric in ("cpu", "memory", "swap", "load_per_core", "disk"):
            warning = getattr(self, f"{metric}_warning")
            critical = getattr(self, f"{metric}_critical")
            if warning >= critical:
                raise ValueError(
                    f"thresholds.{metric}_warning ({warning}) must be below "
                    f"thresholds.{metric}_critical ({critical})"
                )
        return self


class LeakSettings(BaseModel):
    """When a process counts as a memory-leak suspect (see appliance.vitals.leaks)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_samples: int = Field(default=10, ge=3)
    min_growth_bytes: int = Field(default=10 * 1024 * 1024, ge=0)
    min_growth_ratio: float = Field(default=0.10, ge=0)
    # Bounds the per-process RSS bookkeeping on hosts with very many processes.
    max_processes: int = Field(default=2000, ge=1)
    # Samples of RSS kept per process: the window over which growth is judged.
    window_samples: int = Field(default=60, ge=3, le=10_000)

    @model_validator(mode="after")
    def _window_holds_min_samples(self) -> Self:
        if self.window_samples < self.min_samples:
            raise ValueError(
                f"leak.window_samples ({self.window_samples}) must be >= "
                f"leak.min_samples ({self.min_samples})"
            )
        return self
