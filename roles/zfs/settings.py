"""Settings of the zfs role (host data key `storage`, backend from `zfs_backend`).

Sizes (quota, refquota, reservation) are either absolute (`10G`, `512M`, bytes) or a
percentage of the pool's usable space (`25%`: of the root dataset's used+available, i.e. after
RAID-Z parity), so one default layout fits a 4 GB lab pool and a 40 TB production pool alike.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from appliance.zfs.sizes import parse_size
from roles.zfs.backends import BASELINE, Backend

POOL_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_.:-]{0,63}$")
DATASET_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_.:-]*(/[A-Za-z0-9][A-Za-z0-9_.:-]*)+$")
# Names zpool itself reserves for vdev keywords.
RESERVED_POOL_NAMES = ("mirror", "raidz", "raidz1", "raidz2", "raidz3", "spare", "log", "cache")
# Disk paths that survive a reboot or a controller change; /dev/sdX does not.
STABLE_DEV_PREFIXES = (
    "/dev/disk/by-id/",
    "/dev/disk/by-path/",
    "/dev/disk/by-vdev/",
    "/dev/mapper/",
)
MIN_DISKS = {"raidz2": 4, "raidz1": 3, "mirror": 2}

Layout = Literal["raidz2", "raidz1", "mirror"]


def check_size(value: str | int | None, *, allow_percent: bool = True) -> str | None:
    """Normalise a size setting to a string (`none`, `25%`, or bytes); raise naming the problem."""
    if value is None:
        return None
    text = str(value).strip()
    if text == "none":
        return text
    if text.endswith("%"):
        if not allow_percent:
            raise ValueError("a percentage is not allowed here")
        try:
            percent = float(text[:-1])
        except ValueError:
            raise ValueError(f"not a percentage: {text!r}") from None
        if not 0 < percent <= 100:
            raise ValueError(f"percentage must be in (0, 100], got {text!r}")
        return text
    return str(parse_size(text))


class PoolSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(default="tank", description="Pool name.")
    layout: Layout = Field(default="raidz2", description="raidz2 (default), raidz1 or mirror.")
    disks: list[str] = Field(description="Disks by stable path (/dev/disk/by-id/…) or files.")
    spares: list[str] = Field(default_factory=list, description="Hot spares, stable paths.")
    ashift: int | None = Field(default=None, ge=9, le=16, description="log2 sector size, e.g. 12.")
    mountpoint: str | None = Field(
        default=None, description="Mount point of the pool's root dataset."
    )
    force: bool = Field(
        default=False, description="Pass -f to zpool create (disks with old labels)."
    )

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not POOL_NAME_RE.match(value) or value in RESERVED_POOL_NAMES:
            raise ValueError(
                "must start with a letter, use letters/digits/_.:- and not be a vdev keyword"
            )
        return value

    @field_validator("disks", "spares")
    @classmethod
    def _paths(cls, value: list[str]) -> list[str]:
        for path in value:
            if not path.startswith("/"):
                raise ValueError(f"{path!r}: give an absolute path")
            if path.startswith("/dev/") and not path.startswith(STABLE_DEV_PREFIXES):
                raise ValueError(f"{path!r} is not stable across reboots: use /dev/disk/by-id/…")
        return value

    @model_validator(mode="after")
    def _topology(self) -> PoolSpec:
        need = MIN_DISKS[self.layout]
        if len(self.disks) < need:
            raise ValueError(
                f"disks: {self.layout} needs at least {need} disks, got {len(self.disks)}"
            )
        seen: set[str] = set()
        for path in [*self.disks, *self.spares]:
            if path in seen:
                raise ValueError(f"disks: {path!r} is listed twice")
            seen.add(path)
        return self


class DatasetSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="Full dataset name, e.g. tank/postgres.")
    quota: str | None = Field(
        default=None, description="Absolute size, percentage of the pool, or none."
    )
    refquota: str | None = Field(
        default=None, description="As quota, excluding snapshots and children."
    )
    reservation: str | None = Field(
        default=None, description="Guaranteed space; absolute or percentage."
    )
    compression: str | None = Field(
        default=None, description="on/off/lzjb/gzip-N/zle; lz4, zstd: OpenZFS."
    )
    recordsize: str | None = Field(
        default=None, description="Power of two, 512 to the backend's maximum."
    )
    mountpoint: str | None = Field(default=None, description="Absolute path, legacy or none.")
    atime: Literal["on", "off"] | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not DATASET_NAME_RE.match(value):
            raise ValueError("must be POOL/NAME[/…] with letters, digits and _.:-")
        return value

    @field_validator("quota", "refquota", "reservation", mode="before")
    @classmethod
    def _size(cls, value: str | int | None) -> str | None:
        return check_size(value)

    @field_validator("recordsize", mode="before")
    @classmethod
    def _recordsize(cls, value: str | int | None) -> str | None:
        size = check_size(value, allow_percent=False)
        if size is None:
            return None
        if size == "none" or int(size) < 512 or int(size) & (int(size) - 1):
            raise ValueError(f"must be a power of two of at least 512, got {value!r}")
        return size

    @field_validator("mountpoint")
    @classmethod
    def _mountpoint(cls, value: str | None) -> str | None:
        if value is not None and value not in ("legacy", "none") and not value.startswith("/"):
            raise ValueError("must be an absolute path, legacy or none")
        return value

    def properties(self) -> dict[str, str]:
        """The properties this spec manages (unset fields are left to ZFS)."""
        keys = (
            "quota",
            "refquota",
            "reservation",
            "compression",
            "recordsize",
            "mountpoint",
            "atime",
        )
        return {k: v for k in keys if (v := getattr(self, k)) is not None}


def default_datasets(pool: str = "tank") -> list[DatasetSpec]:
    """The appliance's datasets: percentages so the ~4 GB lab pool and real pools both fit."""
    return [
        DatasetSpec(name=f"{pool}/nextcloud", quota="40%", compression="on", atime="off"),
        DatasetSpec(
            name=f"{pool}/postgres", quota="15%", recordsize="16K", compression="on", atime="off"
        ),
        DatasetSpec(name=f"{pool}/vault", quota="2%", compression="on", atime="off"),
        DatasetSpec(name=f"{pool}/backups", quota="30%", compression="on", atime="off"),
        DatasetSpec(name=f"{pool}/agent", quota="2%", compression="on", atime="off"),
    ]


class StorageSettings(BaseModel):
    """Validated with context {"backend": …} so unsupported values fail before anything runs."""

    model_config = ConfigDict(extra="forbid")

    disks: list[str] | None = Field(default=None, description="Disks of the default pool `tank`.")
    pools: list[PoolSpec] = Field(default_factory=list)
    datasets: list[DatasetSpec] = Field(default_factory=list)

    @field_validator("datasets")
    @classmethod
    def _backend_values(cls, value: list[DatasetSpec], info: ValidationInfo) -> list[DatasetSpec]:
        backend: Backend = (info.context or {}).get("backend", "openzfs")
        caps = BASELINE[backend]
        for i, ds in enumerate(value):
            for prop, val in ds.properties().items():
                if prop in ("compression", "recordsize") and (
                    why := caps.check_dataset_property(prop, val)
                ):
                    raise ValueError(f"[{i}] {ds.name}: {prop}: {why} ({backend})")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> StorageSettings:
        names = [p.name for p in self.pools]
        if len(set(names)) != len(names):
            raise ValueError("pools: a pool name is declared twice")
        disks = [d for p in self.pools for d in (*p.disks, *p.spares)]
        if dup := {d for d in disks if disks.count(d) > 1}:
            raise ValueError(f"pools: disk {sorted(dup)[0]!r} is used by two pools")
        seen: set[str] = set()
        for i, ds in enumerate(self.datasets):
            if ds.name.split("/", 1)[0] not in names:
                raise ValueError(f"datasets.{i}.name: {ds.name!r} is in no declared pool {names}")
            if ds.name in seen:
                raise ValueError(f"datasets.{i}.name: {ds.name!r} is declared twice")
            seen.add(ds.name)
        return self
