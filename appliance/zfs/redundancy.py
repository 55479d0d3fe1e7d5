"""Remaining redundancy of a pool: how many more member losses its data survives.

Pure arithmetic on the vdev tree of `zpool status` (appliance.zfs.status), so it works the
same on zfs-fuse and OpenZFS. A data vdev tolerates as many lost members as its parity
(raidzN and draidN: N; a mirror: its width - 1; a bare disk or file: 0); each member that is
FAULTED, OFFLINE, UNAVAIL or REMOVED uses one of them up. A member that is a ``spare-N`` or
``replacing-N`` group counts as lost only when zpool marks the group itself lost (a spare
that took over keeps the slot working). The pool survives only what its weakest vdev
survives: the minimum over the data vdevs and the special/dedup classes (losing either loses
the pool); log, cache and spare devices hold no data that cannot be rebuilt, and are skipped.
"""

from __future__ import annotations

import re

from appliance.zfs.status import PoolStatus, Vdev

#: zpool states of a member that no longer serves its data.
LOST_STATES = frozenset({"FAULTED", "OFFLINE", "UNAVAIL", "REMOVED"})
#: Allocation classes whose loss loses the pool, beside the normal data vdevs.
DATA_CLASSES = ("special", "dedup")

_PARITY_KIND = re.compile(r"^(?:raidz|draid)([123])$")


def parity(vdev: Vdev) -> int:
    """How many members the vdev can lose while still serving all its data, when whole."""
    if match := _PARITY_KIND.match(vdev.kind):
        return int(match.group(1))
    if vdev.kind == "mirror":
        return max(len(vdev.children) - 1, 0)
    return 0  # a bare disk or file; a top-level spare/replacing group is a disk being swapped


def lost_members(vdev: Vdev) -> int:
    if not vdev.children:
        return 1 if vdev.state in LOST_STATES else 0
    if vdev.kind in ("raidz1", "raidz2", "raidz3", "mirror") or vdev.kind.startswith("draid"):
        return sum(1 for child in vdev.children if child.state in LOST_STATES)
    # A top-level spare-N/replacing-N: the slot is lost only when no member serves it.
    return 1 if all(child.state in LOST_STATES for child in vdev.children) else 0


def vdev_remaining(vdev: Vdev) -> int:
    """Parity minus lost members; below 0 the vdev's data is gone (the pool is FAULTED)."""
    return parity(vdev) - lost_members(vdev)


def remaining_redundancy(pool: PoolStatus) -> int | None:
    """The minimum remaining redundancy over the pool's data vdevs; None without any (a pool
    zpool lists without a config, e.g. a backend that printed none)."""
    data = list(pool.vdevs)
    for kind, vdevs in pool.other:
        if kind in DATA_CLASSES:
            data += vdevs
    if not data:
        return None
    return min(vdev_remaining(vdev) for vdev in data)


def lost_devices(pool: PoolStatus) -> list[str]:
    """Names of the data members zpool marks lost, for messages (``d2 OFFLINE``)."""
    found: list[str] = []
    for vdev in pool.vdevs:
        for leaf in vdev.leaves():
            if leaf.state in LOST_STATES:
                found.append(f"{leaf.name} {leaf.state}")
    return found
