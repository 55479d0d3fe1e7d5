"""VaultCheck against real servers: up, sealed, stopped, not initialised, breaker open."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from appliance.health.models import ServiceStatus
from appliance.health.services import VaultCheck
from appliance.secrets import SecretUnavailable
from appliance.secrets.settings import VaultClientSettings
from appliance.secrets.vault import VaultBackend
from tests.unit.secrets.conftest import VaultLab, free_port


def test_unsealed_dev_server_is_up_with_details(vault: VaultLab) -> None:
    backend = VaultBackend(vault.settings())
    probe = VaultCheck(vault.settings(), backend.status).probe_blocking()
    assert probe.status is ServiceStatus.UP, probe.message
    d = probe.details
    assert (d["sealed"], d["initialized"], d["ha_state"]) == (False, True, "standalone")
    assert d["version"].startswith("2.")
    assert d["latency_ms"] > 0
    assert d["breaker"] == "closed"
    assert "backend" not in d


def test_sealed_is_down(vault: VaultLab, seal: Callable[[], None]) -> None:
    seal()
    probe = VaultCheck(vault.settings()).probe_blocking()
    assert probe.status is ServiceStatus.DOWN
    assert probe.message == "vault sealed"
    assert (probe.details["sealed"], probe.details["ha_state"]) == (True, None)


def test_stopped_is_down(lone_bao: VaultLab) -> None:
    check = VaultCheck(lone_bao.settings())
    assert check.probe_blocking().status is ServiceStatus.UP
    lone_bao.bao.stop()
    probe = check.probe_blocking()
    assert probe.status is ServiceStatus.DOWN
    assert probe.message == "vault unreachable"


def test_breaker_open_while_vault_is_fine_is_degraded(
    vault: VaultLab, seal: Callable[[], None]
) -> None:
    backend = VaultBackend(vault.settings(breaker_failures=1, retries=0, breaker_cooldown_s=60))
    seal()
    with pytest.raises(SecretUnavailable):
        backend.read("agent/x")
    vault.bao.unseal()
    probe = VaultCheck(vault.settings(), backend.status).probe_blocking()
    assert probe.status is ServiceStatus.DEGRADED
    assert probe.message == "agent's vault client breaker open: vault sealed"
    assert probe.details["breaker"] == "open"


def test_uninitialised_server_is_down(bao_binary: Path, tmp_path: Path) -> None:
    """A raft server nobody has run `bao operator init` on yet."""
    port = free_port()
    (tmp_path / "raft").mkdir()
    config = tmp_path / "bao.hcl"
    config.write_text(
        f'storage "raft" {{\n  path = "{tmp_path / "raft"}"\n  node_id = "n1"\n'
        f"  performance_multiplier = 1\n}}\n"
        f'listener "tcp" {{\n  address = "127.0.0.1:{port}"\n  tls_disable = true\n}}\n'
        f'api_addr = "http://127.0.0.1:{port}"\ncluster_addr = "http://127.0.0.1:{free_port()}"\n'
    )
    proc = subprocess.Popen(
        [str(bao_binary), "server", f"-config={config}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    try:
        check = VaultCheck(VaultClientSettings(address=f"http://127.0.0.1:{port}", timeout_s=1))
        deadline = time.monotonic() + 10
        probe = check.probe_blocking()
        while probe.message == "vault unreachable" and time.monotonic() < deadline:
            time.sleep(0.05)
            probe = check.probe_blocking()
        assert probe.status is ServiceStatus.DOWN
        assert probe.message == "vault not initialised"
        assert probe.details["initialized"] is False
    finally:
        proc.kill()
        proc.wait(10)
