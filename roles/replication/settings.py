"""Settings of the replication role (host data key `replication`): this host's datasets sent
to a backup host of the same inventory, which the same deploy prepares to receive them.

    replication = {"target": "backup-1"}                     # everything else has a default
    replication = {"target": "backup-1", "datasets": ["tank/nextcloud", "tank/postgres"],
                   "on_calendar": "*-*-* 02:30:00"}
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator

DATASET_RE = re.compile(
    r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}(?:/[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}){0,7}$"
)


class ReplicationSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    target: str | None = Field(
        default=None,
        description="The backup host: the name of another host of the same inventory (its "
        "deploy sets up the receiving side). Unset: no replication.",
    )
    address: str | None = Field(
        default=None, description="Address to reach the target at; default: its ssh_hostname."
    )
    prefix: str | None = Field(
        default=None,
        description="Dataset on the target the replicas go under; default "
        "`POOL/replicas/HOST` (the target's first pool, this host's name).",
    )
    datasets: list[str] | None = Field(
        default=None,
        description="Datasets to replicate; default: every dataset of `storage.datasets`.",
    )
    on_calendar: str = Field(
        default="*-*-* *:07/15:00",
        pattern=r"^[0-9A-Za-z*/:.,~ -]+$",
        description="systemd OnCalendar of the runs; default every 15 minutes, just after the "
        "quarter-hour snapshots.",
    )
    fast_datasets: list[str] = Field(
        default=["tank/backups"],
        description="Datasets also snapshotted and sent every `fast_on_calendar` by a timer of "
        "their own (those replicated): tank/backups carries the WAL archive, so this is the "
        "off-host RPO. Empty: none.",
    )
    fast_on_calendar: str = Field(
        default="*:0/3",
        pattern=r"^[0-9A-Za-z*/:.,~ -]+$",
        description="systemd OnCalendar of the fast runs; default every 3 minutes (with "
        "archive_timeout 60 s: committed work is off the host within ~4.5 minutes).",
    )
    timeout_s: int = Field(
        default=6 * 3600, ge=60, le=7 * 86400, description="Longest send of one dataset."
    )

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, value: str | None) -> str | None:
        if value is not None and not DATASET_RE.match(value):
            raise ValueError(f"{value!r} is not a dataset name")
        return value

    @field_validator("fast_datasets")
    @classmethod
    def _fast(cls, value: list[str]) -> list[str]:
        for item in value:
            if not DATASET_RE.match(item):
                raise ValueError(f"{item!r} is not a dataset name")
        return value

    @field_validator("datasets")
    @classmethod
    def _datasets(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        if not value:
            raise ValueError("empty: leave it unset for every dataset, or unset `target`")
        for item in value:
            if not DATASET_RE.match(item):
                raise ValueError(f"{item!r} is not a dataset name")
        if len(set(value)) != len(value):
            raise ValueError("a dataset is named twice")
        return value
