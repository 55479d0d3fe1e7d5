"""The snapshot listing on captured output: zfs-fuse 0.7 captured on a lab host (lab h8,
2026-11-28), OpenZFS written from zfs-get(8)'s documented `-H -p` format; the usage texts say
which backend takes several snapshots in one atomic command."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from appliance.backup.listing import ListingError, list_command, parse_snapshots
from appliance.backup.runner import snapshot_takes_many
from appliance.backup.snapshot_plan import parse_autosnap

FIXTURES = Path(__file__).parents[1] / "fixtures"
ZFS_FIXTURES = Path(__file__).parents[1] / "zfs" / "fixtures"


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


def test_command_uses_only_flags_both_backends_have() -> None:
    argv = list_command("tank/vault")
    assert argv[:2] == ["zfs", "get"] and argv[-2:] == ["creation", "tank/vault"]
    # zfs-fuse's `zfs get` has -r, -H, -p, -d, -o, -s and no -t (sanoid's failure).
    assert "-t" not in argv and {"-H", "-p", "-d"} <= set(argv)
    usage = (ZFS_FIXTURES / "zfs-fuse" / "zfs-help.txt").read_text()
    assert "get [-rHp] [-d max]" in usage


def test_zfs_fuse_dataset_listing() -> None:
    snaps = parse_snapshots(fixture("zfs-fuse-get-creation-d1-dataset.txt"), "tank/vault")
    assert [s.name for s in snaps] == [
        "manual1",
        "autosnap_2026-11-28_18:00:00_hourly",
        "autosnap_2026-11-28_18:00:00_daily",
    ]
    assert snaps[0].created == datetime(2026, 11, 28, 19, 2, 51, tzinfo=UTC)
    assert all(s.dataset == "tank/vault" for s in snaps)


def test_zfs_fuse_pool_listing_keeps_only_the_pools_own_snapshots() -> None:
    text = fixture("zfs-fuse-get-creation-d1-pool.txt")
    assert "tank/agent\t" in text  # the children are listed too
    snaps = parse_snapshots(text, "tank")
    assert [s.full_name for s in snaps] == ["tank@autosnap_2026-11-28_19:00:00_hourly"]


def test_openzfs_listing_with_a_child_and_foreign_snapshots() -> None:
    snaps = parse_snapshots(fixture("openzfs-get-creation-d1-dataset.txt"), "tank/postgres")
    assert len(snaps) == 7 and all(s.dataset == "tank/postgres" for s in snaps)
    ours = [s for s in snaps if parse_autosnap(s.name)]
    assert len(ours) == 5  # before-upgrade and syncoid's are not ours
    for snap in ours:
        parsed = parse_autosnap(snap.name)
        assert parsed is not None and parsed[0] == snap.created


@pytest.mark.parametrize(
    "name", ["zfs-fuse-list-snapshots-human.txt", "zfs-fuse-list-p-refused.txt"]
)
def test_what_zfs_fuse_answers_to_other_listings_is_refused(name: str) -> None:
    """`zfs list -t snapshot -o name,creation` prints dates to the minute, `-p` is refused:
    neither is taken for a listing."""
    with pytest.raises(ListingError, match="line 1"):
        parse_snapshots(fixture(name), "tank/vault")


def test_empty_listing_is_no_snapshots() -> None:
    assert parse_snapshots("", "tank/vault") == []
    assert parse_snapshots("tank/vault\t1795892176\n", "tank/vault") == []


def test_snapshot_in_one_command_only_where_the_usage_says_so() -> None:
    assert snapshot_takes_many(fixture("openzfs-zfs-usage.txt"))
    assert not snapshot_takes_many((ZFS_FIXTURES / "zfs-fuse" / "zfs-help.txt").read_text())
    assert snapshot_takes_many("\tsnapshot|snap [-r] [-o property=value] ... <fs>@<snap> ...\n")
    assert not snapshot_takes_many("zfs: command not found\n")
