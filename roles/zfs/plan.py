"""Pure planning for the zfs role: declared pools/datasets + observed state → commands or refusal.

Kept free of pyinfra so every decision (create, no-op, refuse, degraded) is tested directly and
through the JSON op cases.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from typing import Literal

from appliance.zfs.capabilities import Capabilities
from appliance.zfs.properties import pool_usable_bytes
from appliance.zfs.sizes import parse_size
from appliance.zfs.state import ZfsState
from appliance.zfs.status import PoolStatus
from roles.zfs.settings import DatasetSpec, PoolSpec

SIZE_PROPS = ("quota", "refquota", "reservation")
MIB = 1024 * 1024
# Percentages are re-resolved on every run against used+available, which drifts by metadata;
# values within this share of the pool count as converged, so a second run changes nothing.
PERCENT_TOLERANCE = 0.005

Argv = list[str]


class PlanError(ValueError):
    """A declared state that must not be applied; the message says what and why."""


@dataclass(frozen=True)
class PoolPlan:
    action: Literal["create", "present", "degraded"]
    message: str
    command: Argv = field(default_factory=list)


@dataclass(frozen=True)
class DatasetsPlan:
    commands: list[Argv]
    message: str  # what is in place (for a no-op) or why nothing was touched


def _short(path: str) -> str:
    if path.startswith(("/dev/disk/", "/dev/mapper/")):
        return posixpath.basename(path)
    return path


def disk_matches(declared: str, shown: str) -> bool:
    """`zpool status` shows by-id disks by their short name, whole disks without -part1."""
    short = _short(declared)
    return shown in (declared, short, f"{short}-part1") or _short(shown) == short


def _same_disks(declared: list[str], shown: list[str]) -> bool:
    remaining = list(shown)
    for disk in declared:
        match = next((s for s in remaining if disk_matches(disk, s)), None)
        if match is None:
            return False
        remaining.remove(match)
    return not remaining


def _describe(pool: PoolStatus) -> str:
    vdevs = "; ".join(f"{v.kind} over {[leaf.name for leaf in v.leaves()]}" for v in pool.vdevs)
    spares = f", spares {[s.name for s in pool.spares]}" if pool.spares else ""
    return (vdevs or "no data vdevs") + spares


def plan_pool(spec: PoolSpec, state: ZfsState, caps: Capabilities) -> PoolPlan:
    """Create when absent; never touch an existing pool: match, degraded notice, or refuse."""
    existing = state.pools.get(spec.name)
    if existing is None:
        if spec.ashift is not None:
            if caps.ashift is None:
                raise PlanError(f"pool {spec.name}: this ZFS backend has no ashift property")
            low, high = caps.ashift
            if not low <= spec.ashift <= high:
                raise PlanError(f"pool {spec.name}: ashift {spec.ashift} outside {low}-{high}")
        argv = ["zpool", "create"]
        argv += ["-f"] if spec.force else []
        argv += ["-o", f"ashift={spec.ashift}"] if spec.ashift is not None else []
        argv += ["-m", spec.mountpoint] if spec.mountpoint else []
        argv += [spec.name, spec.layout, *spec.disks]
        argv += ["spare", *spec.spares] if spec.spares else []
        return PoolPlan("create", f"pool {spec.name} is absent: create it", argv)
    if existing.health != "ONLINE":
        why = f" ({existing.status})" if existing.status else ""
        return PoolPlan(
            "degraded",
            f"pool {spec.name} is {existing.health}{why}: left unchanged, repair it by hand",
        )
    declared = f"{spec.layout} over {spec.disks}" + (
        f", spares {spec.spares}" if spec.spares else ""
    )
    data = existing.vdevs
    same = (
        len(data) == 1
        and data[0].kind == spec.layout
        and _same_disks(spec.disks, [leaf.name for leaf in data[0].leaves()])
        and _same_disks(spec.spares, [s.name for s in existing.spares])
    )
    if not same:
        raise PlanError(
            f"pool {spec.name} exists with a different topology: it is {_describe(existing)}, "
            f"declared {declared}. Nothing was changed; pools are never destroyed or re-created "
            "by the deploy: fix the inventory or migrate the pool by hand."
        )
    return PoolPlan("present", f"pool {spec.name} is {spec.layout} as declared ({existing.health})")


def canonical(prop: str, value: str) -> str:
    """Values as `zfs get -p` reports them: gzip-6 reads back as gzip, zstd-3 as zstd."""
    if prop == "compression":
        return {"gzip-6": "gzip", "zstd-3": "zstd"}.get(value, value)
    if prop in (*SIZE_PROPS, "recordsize"):
        return "0" if value == "none" else str(parse_size(value))
    return value


def _resolve(value: str, usable: int | None, what: str) -> tuple[int, bool]:
    """(bytes, from_percentage) for a size setting."""
    if value.endswith("%"):
        if usable is None:
            raise PlanError(f"{what}: {value} needs the pool's size, which is not known")
        return int(usable * float(value[:-1]) / 100) // MIB * MIB, True
    return (0 if value == "none" else int(value)), False


def desired_properties(spec: DatasetSpec, usable: int | None) -> dict[str, tuple[str, bool]]:
    """Property → (value to set, from a percentage) with sizes resolved to bytes."""
    out: dict[str, tuple[str, bool]] = {}
    for prop, value in spec.properties().items():
        if prop in SIZE_PROPS:
            size, pct = _resolve(value, usable, f"{spec.name} {prop}")
            out[prop] = ("none" if size == 0 and not pct else str(size), pct)
        else:
            out[prop] = (value, False)
    return out


def _converged(prop: str, want: str, have: str, pct: bool, usable: int | None) -> bool:
    want_c = canonical(prop, want)
    if pct and usable:
        return abs(int(want_c) - int(have or 0)) <= max(MIB, usable * PERCENT_TOLERANCE)
    return want_c == have


def plan_datasets(
    pool: str, specs: list[DatasetSpec], state: ZfsState, caps: Capabilities
) -> DatasetsPlan:
    """Commands creating absent datasets and setting properties that differ; nothing else."""
    for spec in specs:
        for prop, value in spec.properties().items():
            if prop in SIZE_PROPS:
                continue
            if why := caps.check_dataset_property(prop, value):
                raise PlanError(f"dataset {spec.name}: {why}")
    status = state.pools.get(pool)
    if status is not None and status.health != "ONLINE":
        return DatasetsPlan([], f"pool {pool} is {status.health}: datasets left unchanged")
    usable = None
    if pool in state.datasets:
        used, available = pool_usable_bytes(state.datasets, pool)
        usable = used + available
    elif status is None and any(v.endswith("%") for s in specs for v in s.properties().values()):
        # Only while planning a first run: the pool op before this one creates the pool, and
        # pyinfra re-reads the fact before executing, so real sizes are used then.
        return DatasetsPlan([], f"pool {pool} does not exist yet: datasets follow once it does")
    commands: list[Argv] = []
    for spec in sorted(specs, key=lambda s: s.name.count("/")):
        want = desired_properties(spec, usable)
        have = state.datasets.get(spec.name)
        if have is None:
            opts = [a for prop, (v, _) in want.items() for a in ("-o", f"{prop}={v}")]
            commands.append(["zfs", "create", "-p", *opts, spec.name])
            continue
        for prop, (value, pct) in want.items():
            if not _converged(prop, value, have.get(prop, ""), pct, usable):
                # One property per `zfs set`: zfs-fuse accepts only one.
                commands.append(["zfs", "set", f"{prop}={value}", spec.name])
    names = ", ".join(s.name for s in specs) or "none declared"
    return DatasetsPlan(commands, f"datasets of {pool} as declared: {names}")
