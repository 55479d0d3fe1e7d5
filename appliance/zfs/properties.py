"""`zfs get` output → dataset → property → raw value, and what a pool can hold."""

from __future__ import annotations

from appliance.zfs.errors import ZfsUnavailableError, backend_error


def parse_zfs_get(text: str) -> dict[str, dict[str, str]]:
    """`zfs get -H -p -o name,property,value …` → dataset → property → raw value.

    Snapshots are included as printed (names with `@`); callers that want file systems only
    use `filesystems()`.
    """
    result: dict[str, dict[str, str]] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        parts = line.split("\t")
        if len(parts) != 3:
            if "no datasets available" in line:
                continue
            if error := backend_error(text):
                raise ZfsUnavailableError(error)
            raise ValueError(f"unexpected `zfs get` line: {line!r}")
        name, prop, value = parts
        result.setdefault(name, {})[prop] = value
    return result


def filesystems(props: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
    """Only file systems and volumes (no snapshots or bookmarks)."""
    return {name: p for name, p in props.items() if "@" not in name and "#" not in name}


def pool_usable_bytes(zfs_props: dict[str, dict[str, str]], pool: str) -> tuple[int, int]:
    """(used, available) of a pool as data can use it: its root dataset's, in bytes.

    `zpool list` sizes count RAID-Z parity; the root dataset's used+available does not.
    """
    try:
        root = zfs_props[pool]
        return int(root["used"]), int(root["available"])
    except KeyError as exc:
        raise KeyError(f"no used/available for pool root dataset {pool!r}") from exc
