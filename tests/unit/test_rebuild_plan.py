"""sovereign rebuild's pure decisions, on listings captured on lab hosts trb-2 (a replica on
the backup host) and trb-1 (the same dataset received by a rebuild), both zfs-fuse."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from sovereign.rebuild_host import (
    ABSENT,
    FILES,
    pg_target_options,
    postgres_restore_script,
    split_probe,
)
from sovereign.rebuild_plan import (
    RebuildRefused,
    check_host_data,
    host_dataset,
    parse_at,
    pick_snapshot,
    replica_name,
)

FIXTURES = Path(__file__).parent / "fixtures"
REPLICA_LISTING = (FIXTURES / "zfs-fuse-replica-creation-d1.txt").read_text()
HOST_LISTING = (FIXTURES / "zfs-fuse-rebuilt-creation-d1.txt").read_text()
REPLICA = replica_name("tank/replicas/trb-1", "tank/nextcloud")


def test_replica_name_is_prefix_and_dataset() -> None:
    assert REPLICA == "tank/replicas/trb-1/tank/nextcloud"


def test_the_newest_snapshot_is_picked() -> None:
    pick = pick_snapshot("tank/nextcloud", REPLICA, REPLICA_LISTING, None)
    assert pick.snapshot.name == "drill-1"
    assert pick.source == f"{REPLICA}@drill-1"
    assert pick.snapshot.created == datetime.fromtimestamp(1795913177, UTC)


def test_at_picks_the_newest_at_or_before_it() -> None:
    at = datetime.fromtimestamp(1795913150, UTC)  # between the autosnaps and drill-1
    pick = pick_snapshot("tank/nextcloud", REPLICA, REPLICA_LISTING, at)
    assert pick.snapshot.name == "autosnap_2026-11-29_00:45:10_monthly"  # same time: by name
    exact = pick_snapshot("tank/nextcloud", REPLICA, REPLICA_LISTING,
                          datetime.fromtimestamp(1795913177, UTC))  # fmt: skip
    assert exact.snapshot.name == "drill-1"


def test_no_replica_or_nothing_old_enough_is_refused() -> None:
    with pytest.raises(RebuildRefused, match="has no replica tank/replicas/trb-1/tank/nextcloud"):
        pick_snapshot("tank/nextcloud", REPLICA, None, None)
    with pytest.raises(RebuildRefused, match="holds no snapshot taken at or before 2020"):
        pick_snapshot("tank/nextcloud", REPLICA, REPLICA_LISTING, parse_at("2020-01-01"))
    only_dataset = REPLICA_LISTING.splitlines()[0] + "\n"
    with pytest.raises(RebuildRefused, match="holds no snapshot"):
        pick_snapshot("tank/nextcloud", REPLICA, only_dataset, None)


def test_parse_at() -> None:
    assert parse_at("2026-11-29T01:30:00Z") == datetime(2026, 11, 29, 1, 30, tzinfo=UTC)
    assert parse_at("2026-11-29 01:30") == datetime(2026, 11, 29, 1, 30, tzinfo=UTC)
    with pytest.raises(RebuildRefused, match="is not a time"):
        parse_at("yesterday")


def test_a_host_that_still_holds_the_dataset_is_reported() -> None:
    pick = pick_snapshot("tank/nextcloud", REPLICA, REPLICA_LISTING, None)
    found = host_dataset("tank/nextcloud", HOST_LISTING, has_files=True)
    assert found.exists and not found.fresh
    [line] = check_host_data([pick], [found])
    assert "tank/nextcloud exists on the host with 1 snapshot(s)" in line
    assert "not newer than the replica's drill-1" in line
    newer = HOST_LISTING + "tank/nextcloud@autosnap_later\t1795999999\n"
    [line] = check_host_data([pick], [host_dataset("tank/nextcloud", newer, True)])
    assert "the newest autosnap_later (2026-11-30" in line and "NEWER than" in line


def test_absent_or_fresh_datasets_are_no_problem_and_files_alone_are() -> None:
    pick = pick_snapshot("tank/nextcloud", REPLICA, REPLICA_LISTING, None)
    fresh_listing = "tank/nextcloud\t1795913321\n"  # made by a deploy, never snapshotted
    assert host_dataset("tank/nextcloud", fresh_listing, has_files=False).fresh
    assert check_host_data([pick], [host_dataset("tank/nextcloud", None, False)]) == []
    assert check_host_data([pick], [host_dataset("tank/nextcloud", fresh_listing, False)]) == []
    [line] = check_host_data([pick], [host_dataset("tank/nextcloud", fresh_listing, True)])
    assert "holds files (never snapshotted)" in line


def test_split_probe() -> None:
    assert split_probe(f"{ABSENT}\n") == (None, False)
    assert split_probe(HOST_LISTING + f"{FILES}\n") == (HOST_LISTING.rstrip("\n"), True)


def test_postgres_restore_targets() -> None:
    assert pg_target_options(None) == []
    at = datetime(2026, 11, 29, 1, 30, tzinfo=UTC)
    assert pg_target_options(at) == [
        "--type=time", "--target=2026-11-29 01:30:00+00", "--target-action=promote",
    ]  # fmt: skip
    script = postgres_restore_script(15, "main", "/tank/postgres/15/main", 5432, "main", at)
    assert "pgbackrest --stanza=main --type=time '--target=2026-11-29 01:30:00+00'" in script
    assert "pg_createcluster 15 main -d /tank/postgres/15/main -p 5432" in script
    # the received copy is kept aside until the rebuild is done, never deleted first
    assert script.index("mv /tank/postgres/15/main /tank/postgres/15/main.received") < (
        script.index("restore")
    )
