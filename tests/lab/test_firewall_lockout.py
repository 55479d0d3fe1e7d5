"""The host firewall never locks out the deploy's own SSH session: a firewall that drops SSH
from everywhere is refused before pyinfra connects; one whose admin networks leave out this
controller's address is refused on the host, before anything changes, and SSH still works."""

from __future__ import annotations

from pathlib import Path

from sovereign.runner import run_deploy
from tests.lab.conftest import Deploys, sovereign, ssh

INVENTORIES = Path(__file__).parent / "inventories"
TABLE = "nft list table inet sovereign | head -2"


def test_ssh_from_nowhere_is_refused_before_any_host_is_touched(deploys: Deploys) -> None:
    proc = sovereign("check", str(INVENTORIES / "ssh_from_nowhere.py"), check=False)
    assert proc.returncode != 0
    assert "firewall.admin_networks" in proc.stderr and "everywhere" in proc.stderr


def test_a_firewall_without_this_controller_is_refused(lab: str, deploys: Deploys) -> None:
    assert deploys.first.returncode == 0, deploys.first.failure_report()
    before = ssh(lab, TABLE).stdout
    result = run_deploy(str(INVENTORIES / "ssh_from_elsewhere.py"), echo=False)
    assert result.returncode != 0
    assert "which the new ruleset would not admit" in result.output, result.failure_report()
    assert "nothing was changed" in result.output
    # Still reachable, with the ruleset it had.
    assert ssh(lab, TABLE).stdout == before
    assert ssh(lab, "true").returncode == 0
