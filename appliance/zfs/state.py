"""The combined state command (`commands.state_command()`): its output parsed into one
ZfsState, and that state as plain data and back (pyinfra facts hand JSON-like values to
operations)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from appliance.zfs import commands
from appliance.zfs.capabilities import Capabilities, parse_capabilities
from appliance.zfs.errors import backend_error
from appliance.zfs.properties import filesystems, parse_zfs_get
from appliance.zfs.status import PoolStatus, ScanInfo, Vdev, parse_zpool_status, vdev_kind


def split_sections(text: str) -> dict[str, str]:
    """Output of `commands.state_command()` → section name → text."""
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        if line.startswith(commands.MARKER):
            name = line[len(commands.MARKER) :].strip()
            current = None if name == commands.SECTION_END else sections.setdefault(name, [])
            continue
        if current is not None:
            current.append(line)
    return {name: "\n".join(lines) for name, lines in sections.items()}


@dataclass(frozen=True)
class ZfsState:
    """Everything one `state_command()` run tells about a host's ZFS."""

    pools: dict[str, PoolStatus]
    datasets: dict[str, dict[str, str]]  # file systems/volumes → property → raw (-p) value
    capabilities: Capabilities | None
    error: str | None = None  # set when the backend was unreachable; the rest is then empty


def parse_state(text: str) -> ZfsState:
    sections = split_sections(text)
    status = sections.get(commands.SECTION_STATUS, "")
    if error := backend_error(status):
        return ZfsState(pools={}, datasets={}, capabilities=None, error=error)
    caps = None
    if commands.SECTION_ZFS_USAGE in sections:
        caps = parse_capabilities(
            sections.get(commands.SECTION_ZPOOL_USAGE, ""), sections[commands.SECTION_ZFS_USAGE]
        )
    return ZfsState(
        pools=parse_zpool_status(status),
        datasets=filesystems(parse_zfs_get(sections.get(commands.SECTION_PROPERTIES, ""))),
        capabilities=caps,
    )


# Plain data and back: pyinfra facts hand JSON-like values to operations.


def vdev_to_dict(vdev: Vdev) -> dict[str, Any]:
    return {
        "name": vdev.name,
        "kind": vdev.kind,
        "state": vdev.state,
        "errors": [vdev.read_errors, vdev.write_errors, vdev.checksum_errors],
        "note": vdev.note,
        "children": [vdev_to_dict(c) for c in vdev.children],
    }


def vdev_from_dict(data: dict[str, Any]) -> Vdev:
    errors = data.get("errors") or [0, 0, 0]
    name = str(data["name"])
    return Vdev(
        name=name,
        kind=str(data.get("kind") or vdev_kind(name)),
        state=str(data.get("state", "ONLINE")),
        read_errors=int(errors[0]),
        write_errors=int(errors[1]),
        checksum_errors=int(errors[2]),
        children=tuple(vdev_from_dict(c) for c in data.get("children", [])),
        note=str(data.get("note", "")),
    )


def state_to_dict(state: ZfsState) -> dict[str, Any]:
    caps = state.capabilities
    return {
        "error": state.error,
        "pools": {
            name: {
                "health": p.health,
                "vdevs": [vdev_to_dict(v) for v in p.vdevs],
                "spares": [vdev_to_dict(v) for v in p.spares],
                "scan": p.scan.state,
                "errors": p.errors,
                "status": p.status,
            }
            for name, p in state.pools.items()
        },
        "datasets": state.datasets,
        "capabilities": None
        if caps is None
        else {
            "dataset_properties": sorted(caps.dataset_properties),
            "pool_properties": sorted(caps.pool_properties),
            "compression": sorted(caps.compression),
            "ashift": list(caps.ashift) if caps.ashift else None,
            "max_recordsize": caps.max_recordsize,
            "zfs_get_flags": sorted(caps.zfs_get_flags),
            "zpool_get_flags": sorted(caps.zpool_get_flags),
            "xattr": sorted(caps.xattr),
        },
    }


def capabilities_from_dict(data: dict[str, Any]) -> Capabilities:
    ashift = data.get("ashift")
    return Capabilities(
        dataset_properties=frozenset(data.get("dataset_properties", [])),
        pool_properties=frozenset(data.get("pool_properties", [])),
        compression=frozenset(data.get("compression", [])),
        ashift=(int(ashift[0]), int(ashift[1])) if ashift else None,
        max_recordsize=int(data.get("max_recordsize", 128 * 1024)),
        zfs_get_flags=frozenset(data.get("zfs_get_flags", [])),
        zpool_get_flags=frozenset(data.get("zpool_get_flags", [])),
        xattr=frozenset(data.get("xattr", [])),
    )


def state_from_dict(data: dict[str, Any]) -> ZfsState:
    pools = {
        name: PoolStatus(
            name=name,
            health=str(p.get("health", "ONLINE")),
            vdevs=tuple(vdev_from_dict(v) for v in p.get("vdevs", [])),
            spares=tuple(vdev_from_dict(v) for v in p.get("spares", [])),
            scan=ScanInfo(state=str(p.get("scan", "none")), errors=0, raw=""),
            errors=str(p.get("errors", "")),
            status=str(p.get("status", "")),
        )
        for name, p in (data.get("pools") or {}).items()
    }
    caps = data.get("capabilities")
    return ZfsState(
        pools=pools,
        datasets={k: dict(v) for k, v in (data.get("datasets") or {}).items()},
        capabilities=capabilities_from_dict(caps) if caps else None,
        error=data.get("error"),
    )
