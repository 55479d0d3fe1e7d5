"""The whole chain on a real host: lab → deploy → deploy again (no changes) → verify."""

from __future__ import annotations

from tests.lab.conftest import INVENTORY, Deploys, sovereign


def test_first_deploy_succeeds(deploys: Deploys) -> None:
    assert deploys.first.returncode == 0, deploys.first.failure_report()
    assert deploys.first.results, "no operation results found in pyinfra's output"
    assert not [r for r in deploys.first.results if r[2] == "Error"]


def test_second_deploy_changes_nothing(deploys: Deploys) -> None:
    assert deploys.second.returncode == 0, deploys.second.failure_report()
    # Every operation of the first run ran again and reported "No changes".
    assert {op for _, op, _ in deploys.second.results} == {op for _, op, _ in deploys.first.results}
    assert deploys.second.changed == [], deploys.second.failure_report()


def test_verify_passes(deploys: Deploys) -> None:
    assert deploys.first.returncode == 0
    proc = sovereign("verify", INVENTORY, "-q", check=False)
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-2000:]
