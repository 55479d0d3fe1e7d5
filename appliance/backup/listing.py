"""Listing a dataset's snapshots in a way both zfs-fuse 0.7 and OpenZFS 2.x accept.

sanoid lists with `zfs get -Hpt snapshot creation`; zfs-fuse's `zfs get` has no `-t` (and its
`zfs list` no `-p`), so sanoid never sees its own snapshots there. `zfs get -H -p -o name,value
-d 1 creation DATASET` works on both: the dataset, its children and its snapshots, one per
line, the creation time in epoch seconds. The snapshots are the names with an `@`.
"""

from __future__ import annotations

from datetime import UTC, datetime

from appliance.backup.snapshot_plan import Snapshot


class ListingError(ValueError):
    """A listing line that is not `NAME<TAB>EPOCH`: the output is not what was asked for."""


def list_command(dataset: str) -> list[str]:
    """argv listing `dataset` with its direct children and snapshots, creation in epoch s."""
    return ["zfs", "get", "-H", "-p", "-o", "name,value", "-d", "1", "creation", dataset]


def parse_snapshots(text: str, dataset: str) -> list[Snapshot]:
    """The snapshots of `dataset` itself in a `zfs get -H -p -o name,value creation` output
    (also `zfs list -H -p -t snapshot -o name,creation`: the same two columns)."""
    found: list[Snapshot] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != 2 or not fields[1].strip().isdigit():
            raise ListingError(f"line {number}: expected NAME<TAB>EPOCH, got {line!r}")
        name, epoch = fields[0], int(fields[1])
        owner, at, short = name.partition("@")
        if not at or owner != dataset:
            continue  # the dataset itself, a child, or a child's snapshot
        found.append(Snapshot(owner, short, datetime.fromtimestamp(epoch, UTC)))
    return found
