"""A deploy never destroys data: refused topology changes, and hands off a degraded pool."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from appliance.zfs.commands import state_command
from appliance.zfs.state import parse_state
from appliance.zfs.status import PoolStatus
from sovereign.runner import run_deploy
from tests.lab.conftest import INVENTORY, PROJECT_ROOT, Deploys, ssh

CHANGED = str(PROJECT_ROOT / "tests" / "lab" / "inventories" / "changed_topology.py")
CANARY = "/tank/backups/canary"


def pool(lab: str) -> PoolStatus:
    state = parse_state(ssh(lab, state_command(capabilities=False)).stdout)
    assert state.error is None, state.error
    return state.pools["tank"]


def canary_sum(lab: str) -> str:
    return ssh(lab, f"sha256sum {CANARY}").stdout.split()[0]


@pytest.fixture(scope="module")
def canary(lab: str, deploys: Deploys) -> str:
    assert deploys.first.returncode == 0, deploys.first.failure_report()
    ssh(lab, f"head -c 4M /dev/urandom > {CANARY} && sync")
    return canary_sum(lab)


def test_changed_topology_is_refused_and_nothing_changes(lab: str, canary: str) -> None:
    before = pool(lab)
    result = run_deploy(CHANGED, echo=False)
    assert result.returncode != 0
    assert "different topology" in result.output
    assert "Nothing was changed" in result.output
    after = pool(lab)
    assert after.health == "ONLINE"
    assert after.redundancy == "raidz2"
    assert after.vdevs == before.vdevs
    assert canary_sum(lab) == canary


@pytest.fixture
def two_disks_offline(lab: str) -> Iterator[None]:
    ssh(lab, "zpool offline tank /lab/disks/disk1 && zpool offline tank /lab/disks/disk2")
    yield
    ssh(lab, "zpool online tank /lab/disks/disk1 && zpool online tank /lab/disks/disk2")
    deadline = time.monotonic() + 60
    while pool(lab).health != "ONLINE" and time.monotonic() < deadline:
        time.sleep(0.5)
    assert pool(lab).health == "ONLINE"


def test_degraded_pool_keeps_data_and_deploy_leaves_it(
    lab: str, canary: str, two_disks_offline: None
) -> None:
    degraded = pool(lab)
    assert degraded.health == "DEGRADED"
    offline = [leaf.name for v in degraded.vdevs for leaf in v.leaves() if leaf.state == "OFFLINE"]
    assert len(offline) == 2
    # Re-import so that the canary is read from the four remaining disks, not the cache.
    # (PostgreSQL and Vault keep their datasets busy: stop them for the export, start after.)
    ssh(lab, "systemctl stop postgresql@15-main vault sovereign-agent")
    ssh(lab, "zpool export tank && zpool import -d /lab/disks tank")
    ssh(lab, "systemctl start postgresql@15-main vault sovereign-agent")
    assert canary_sum(lab) == canary

    result = run_deploy(INVENTORY, echo=False)
    assert result.returncode == 0, result.failure_report()
    storage_ops = [r for r in result.results if r[1].startswith("ZFS storage")]
    assert storage_ops
    assert [r for r in storage_ops if r[2] != "No changes"] == []
    assert "DEGRADED" in result.output
    assert pool(lab).health == "DEGRADED"
