"""`sovereign check`: bad inventory data fails before any connection, naming host and field."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SOVEREIGN = str(Path(sys.executable).with_name("sovereign"))


def check(tmp_path: Path, hosts: str) -> subprocess.CompletedProcess[str]:
    inventory = tmp_path / "inv.py"
    inventory.write_text(f"hosts = {hosts}\n")
    return subprocess.run([SOVEREIGN, "check", str(inventory)], capture_output=True, text=True,
                          check=False, timeout=300)  # fmt: skip


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ('{"storage": {"disks": ["/dev/disk/by-id/a"] * 2 + ["/dev/disk/by-id/b"]}}',
         "storage.pools.0"),
        ('{"base": {"timezone": "Nowhere/../etc"}}', "base.timezone"),
        ('{"broker": {"flavour": "kafka"}}', "broker.flavour"),
        ('{"postgres": {"databases": [{"name": "x", "owner": "ghost"}]}}', "databases.0.owner"),
        ('{"zfs_backend": "btrfs"}', "zfs_backend"),
        ('{"vault": {"flavour": "hashicorp"}}', "'static' is OpenBao's"),
        ('{"vault": {"operator_age_recipients": ["ssh-ed25519 AAAA"]}}',
         "vault.operator_age_recipients"),
        ('{"vault": {"seal": "transit", "transit": {"address": "https://v:8200"}}}',
         "$SOVEREIGN_VAULT_TRANSIT_TOKEN is not set"),
    ],
)  # fmt: skip
def test_bad_inventory_is_refused_naming_the_field(tmp_path: Path, data: str, message: str) -> None:
    disks = '{"storage": {"disks": [f"/dev/disk/by-id/d{n}" for n in range(6)]}}'
    proc = check(tmp_path, f'[("h1", {{"ssh_hostname": "192.0.2.1", **{disks}, **{data}}})]')
    assert proc.returncode == 1
    assert "sovereign: error: host h1" in proc.stderr
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr


def test_example_inventory_is_valid() -> None:
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.run([SOVEREIGN, "check", str(root / "inventory" / "example.py")],
                          capture_output=True, text=True, check=False, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr


def test_every_bad_field_of_a_host_is_reported_at_once(tmp_path: Path) -> None:
    proc = check(
        tmp_path,
        '[("h1", {"base": {"timezone": "../x"}, "broker": {"flavour": "kafka"}, '
        '"storage": {"disks": ["/dev/disk/by-id/a"]}})]',
    )
    assert proc.returncode == 1
    for field in ("base.timezone", "broker.flavour", "storage.pools.0"):
        assert field in proc.stderr


def test_deploy_refuses_a_bad_inventory_before_pyinfra_connects(tmp_path: Path) -> None:
    """`sovereign deploy` runs the same checks in its pyinfra process, before any connection:
    the host's address is unroutable, so reaching it would hang or fail differently."""
    inventory = tmp_path / "inv.py"
    inventory.write_text(
        'hosts = [("h1", {"ssh_hostname": "192.0.2.1", "base": {"timezone": "../x"}, '
        '"storage": {"disks": [f"/dev/disk/by-id/d{n}" for n in range(6)]}})]\n'
    )
    proc = subprocess.run([SOVEREIGN, "deploy", str(inventory)], capture_output=True, text=True,
                          check=False, timeout=300)  # fmt: skip
    assert proc.returncode == 1
    assert "sovereign: error: host h1" in proc.stderr and "base.timezone" in proc.stderr
    assert "Connecting to hosts" not in proc.stdout
    assert "Traceback" not in proc.stderr + proc.stdout
