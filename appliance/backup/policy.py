"""Snapshot policies in sanoid's vocabulary: how many snapshots of each period to keep.

`frequently`, `hourly`, `daily`, `weekly`, `monthly`, `yearly` are counts (0: take none of
that period and prune those there are); `frequent_period` is the minutes between frequent
snapshots; `autosnap` takes snapshots, `autoprune` prunes them; `recursive` snapshots the
dataset's descendants with it (`zfs snapshot -r`, atomic). A declaration names a template
(`use_template`) and overrides some of its values, as in sanoid.conf.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Period = Literal["frequently", "hourly", "daily", "weekly", "monthly", "yearly"]
PERIODS: tuple[Period, ...] = ("frequently", "hourly", "daily", "weekly", "monthly", "yearly")
TemplateName = Literal["production", "frequent", "backup", "none"]

Count = Annotated[int, Field(ge=0, le=100_000)]


class SnapshotPolicy(BaseModel):
    """One dataset's resolved policy, as the runner reads it from snapshots.toml."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    frequently: Count = Field(default=0, description="Frequent snapshots to keep.")
    frequent_period: int = Field(default=15, description="Minutes between frequent snapshots.")
    hourly: Count = Field(default=36, description="Hourly snapshots to keep.")
    daily: Count = Field(default=30, description="Daily snapshots to keep (taken at 23:59 UTC).")
    weekly: Count = Field(default=0, description="Weekly snapshots to keep (Monday 23:30 UTC).")
    monthly: Count = Field(default=3, description="Monthly snapshots to keep (1st, 00:00 UTC).")
    yearly: Count = Field(default=0, description="Yearly snapshots to keep (1 January, 00:00).")
    autosnap: bool = Field(default=True, description="Take snapshots when due.")
    autoprune: bool = Field(default=True, description="Destroy expired autosnap_ snapshots.")
    recursive: bool = Field(default=False, description="Snapshot the descendants too (zfs -r).")

    @field_validator("frequent_period")
    @classmethod
    def _divides_hour(cls, value: int) -> int:
        # Frequent slots are counted from the top of the hour, so they must tile it.
        if not 1 <= value <= 60 or 60 % value:
            raise ValueError(f"must divide the hour (5, 10, 15, 20, 30, 60…), got {value}")
        return value

    def count(self, period: Period) -> int:
        return int(getattr(self, period))


TEMPLATES: dict[TemplateName, SnapshotPolicy] = {
    # sanoid's template_production: a month of dailies, a day and a half of hourlies.
    "production": SnapshotPolicy(),
    # Data that changes by the minute (files, the database): two hours of 15-minute snapshots too.
    "frequent": SnapshotPolicy(frequently=8),
    # Replicas received from elsewhere: never taken here, pruned on sanoid's backup schedule.
    "backup": SnapshotPolicy(hourly=30, daily=90, monthly=12, autosnap=False),
    # Scratch space: neither taken nor pruned.
    "none": SnapshotPolicy(hourly=0, daily=0, monthly=0, autosnap=False, autoprune=False),
}


class PolicyDeclaration(BaseModel):
    """A policy as the inventory declares it: a template and the values that differ from it."""

    model_config = ConfigDict(extra="forbid")

    use_template: TemplateName = Field(
        default="production", description="The template to start from."
    )
    frequently: Count | None = None
    frequent_period: int | None = None
    hourly: Count | None = None
    daily: Count | None = None
    weekly: Count | None = None
    monthly: Count | None = None
    yearly: Count | None = None
    autosnap: bool | None = None
    autoprune: bool | None = None
    recursive: bool | None = None

    @field_validator("frequent_period")
    @classmethod
    def _divides_hour(cls, value: int | None) -> int | None:
        return None if value is None else SnapshotPolicy._divides_hour(value)

    def resolve(self) -> SnapshotPolicy:
        overrides = self.model_dump(exclude={"use_template"}, exclude_none=True)
        return TEMPLATES[self.use_template].model_copy(update=overrides)


class SnapshotConfig(BaseModel):
    """The runner's configuration file (/etc/sovereign/snapshots.toml): dataset → policy."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    datasets: dict[str, SnapshotPolicy] = Field(default_factory=dict)
