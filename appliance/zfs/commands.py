"""The exact shell commands that read ZFS state, shared by the pyinfra facts and the agent.

One command prints everything a storage decision needs, in sections marked by a line
`@@sovereign-zfs@@ <section>`, so reading state costs one round trip whatever the number
of pools and datasets. Every flag used here exists on both OpenZFS 2.x and zfs-fuse 0.7
(`zfs get -H -p -o` and plain `zpool status`); anything backend-specific is detected from the
usage texts printed in the `capabilities` sections, never assumed.
"""

from __future__ import annotations

MARKER = "@@sovereign-zfs@@"

# Properties read for every dataset; values come back raw (`-p`: exact bytes, `0`/`none`).
DATASET_PROPERTIES: tuple[str, ...] = (
    "type",
    "used",
    "available",
    "referenced",
    "quota",
    "refquota",
    "reservation",
    "refreservation",
    "compression",
    "recordsize",
    "mountpoint",
    "atime",
    "mounted",
)

SECTION_STATUS = "zpool-status"
SECTION_PROPERTIES = "zfs-get"
SECTION_ZPOOL_USAGE = "zpool-get-usage"
SECTION_ZFS_USAGE = "zfs-get-usage"
SECTION_END = "end"


def _section(name: str) -> str:
    return f"echo '{MARKER} {name}'"


def zfs_get_command() -> str:
    """`zfs get` for every dataset with exact values (no dataset argument: all of them)."""
    return "zfs get -H -p -o name,property,value " + ",".join(DATASET_PROPERTIES)


def state_command(*, capabilities: bool = True) -> str:
    """One shell command printing pool status, dataset properties and (optionally) capabilities.

    stderr is folded into each section so a stopped daemon or a missing library shows up as
    text the parser can report. The usage texts come from `zpool get`/`zfs get` without
    arguments: both backends print their property tables (with allowed values) there and exit 2,
    hence `; true` so the whole command still succeeds.
    """
    parts = [
        _section(SECTION_STATUS),
        "zpool status 2>&1",
        _section(SECTION_PROPERTIES),
        zfs_get_command() + " 2>&1",
    ]
    if capabilities:
        parts += [
            _section(SECTION_ZPOOL_USAGE),
            "zpool get 2>&1",
            _section(SECTION_ZFS_USAGE),
            "zfs get 2>&1",
        ]
    parts.append(_section(SECTION_END))
    return "; ".join(parts) + "; true"
