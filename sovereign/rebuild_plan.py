"""Pure decisions of `sovereign rebuild`: which replica snapshot to bring back for each
dataset, and whether the host still holds data a rebuild would destroy. Tested on listings
captured from zfs-fuse (`zfs get -H -p -o name,value -d 1 creation DATASET`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from appliance.backup.listing import parse_snapshots
from appliance.backup.snapshot_plan import Snapshot
from controller.errors import SovereignError


class RebuildRefused(SovereignError):
    """The rebuild must not go on; the message says why and what would be lost."""


def parse_at(text: str) -> datetime:
    """--at: an ISO 8601 time; without a zone it is UTC."""
    try:
        at = datetime.fromisoformat(text.strip().replace(" UTC", "").replace("Z", "+00:00"))
    except ValueError:
        raise RebuildRefused(f"--at {text!r} is not a time (e.g. 2026-11-29T01:30:00Z)") from None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def replica_name(prefix: str, dataset: str) -> str:
    """Where the backup host keeps a dataset of this host (roles/replication: PREFIX/DATASET)."""
    return f"{prefix}/{dataset}"


@dataclass(frozen=True)
class Pick:
    dataset: str  # on the host, e.g. tank/nextcloud
    replica: str  # on the backup host
    snapshot: Snapshot  # of the replica: what the host gets back

    @property
    def source(self) -> str:
        return f"{self.replica}@{self.snapshot.name}"


def pick_snapshot(dataset: str, replica: str, listing: str | None, at: datetime | None) -> Pick:
    """The replica's newest snapshot, or its newest taken at or before `at`. `listing` is the
    replica's `zfs get … creation` output, None when the backup host has no such replica."""
    if listing is None:
        raise RebuildRefused(f"{dataset}: the backup host has no replica {replica}")
    snapshots = sorted(parse_snapshots(listing, replica), key=lambda s: (s.created, s.name))
    if at is not None:
        snapshots = [s for s in snapshots if s.created <= at]
    if not snapshots:
        when = f" taken at or before {at.isoformat()}" if at else ""
        raise RebuildRefused(f"{dataset}: the replica {replica} holds no snapshot{when}")
    return Pick(dataset, replica, snapshots[-1])


@dataclass(frozen=True)
class HostDataset:
    """A dataset as the host to rebuild has it: absent, or its snapshots and whether its
    mounted directory holds anything."""

    name: str
    exists: bool
    snapshots: tuple[Snapshot, ...] = ()
    has_files: bool = False

    @property
    def fresh(self) -> bool:
        """Empty and never snapshotted: made by a deploy a moment ago, nothing to lose."""
        return self.exists and not self.snapshots and not self.has_files


def host_dataset(name: str, listing: str | None, has_files: bool) -> HostDataset:
    if listing is None:
        return HostDataset(name, exists=False)
    return HostDataset(name, True, tuple(parse_snapshots(listing, name)), has_files)


def check_host_data(picks: Sequence[Pick], found: Sequence[HostDataset]) -> list[str]:
    """What the host still holds that the rebuild would replace: one line per dataset, naming
    its newest snapshot against the replica's (empty: nothing to lose)."""
    chosen = {p.dataset: p for p in picks}
    problems = []
    for ds in found:
        if not ds.exists or ds.fresh or ds.name not in chosen:
            continue
        pick = chosen[ds.name]
        if ds.snapshots:
            newest = max(ds.snapshots, key=lambda s: (s.created, s.name))
            newer = "NEWER than" if newest.created > pick.snapshot.created else "not newer than"
            problems.append(
                f"{ds.name} exists on the host with {len(ds.snapshots)} snapshot(s), the newest "
                f"{newest.name} ({_utc(newest.created)}) {newer} the replica's "
                f"{pick.snapshot.name} ({_utc(pick.snapshot.created)})"
            )
        else:
            problems.append(f"{ds.name} exists on the host and holds files (never snapshotted)")
    return problems


def _utc(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
