"""`sovereign deploy --dry` on the deployed lab: it lists what would change, per host and
operation with its commands, and changes nothing."""

from __future__ import annotations

from sovereign.plan import HostPlan, parse_plan
from tests.lab.conftest import INVENTORY, PROJECT_ROOT, Deploys, sovereign, ssh
from tests.lab.quota_change import DATASET

CHANGED_QUOTA = str(PROJECT_ROOT / "tests" / "lab" / "inventories" / "changed_quota.py")


def dry(inventory: str) -> tuple[list[HostPlan], str]:
    proc = sovereign("deploy", inventory, "--dry")
    return parse_plan(proc.stdout), proc.stdout


def quota(lab: str) -> int:
    return int(ssh(lab, f"zfs get -Hp -o value quota {DATASET}").stdout.strip())


def test_dry_run_on_the_deployed_lab_lists_no_change(lab: str, deploys: Deploys) -> None:
    assert deploys.second.returncode == 0, deploys.second.failure_report()
    plans, out = dry(INVENTORY)
    assert [p.host for p in plans] == [f"{lab}-1"]
    assert plans[0].ops == [], out[-3000:]
    assert out.rstrip().endswith("no changes")


def test_dry_run_lists_exactly_the_changed_quota_and_changes_nothing(
    lab: str, deploys: Deploys
) -> None:
    assert deploys.second.returncode == 0, deploys.second.failure_report()
    before = quota(lab)
    plans, out = dry(CHANGED_QUOTA)
    assert len(plans) == 1
    [op] = plans[0].ops
    assert op.op == "ZFS storage | ZFS datasets of tank", out[-3000:]
    assert op.commands == [f"$ zfs set quota={64 * 1024 * 1024} {DATASET}"]
    assert out.rstrip().endswith("would change: 1 operation on 1 host")
    assert "Detected changes" not in out  # pyinfra's own table is replaced by the plan
    assert quota(lab) == before
    assert before != 64 * 1024 * 1024
