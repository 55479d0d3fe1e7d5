"""server.hcl.j2, vault.service.j2 and logrotate.j2 rendered with the role's arguments: the
stanzas each variant needs, and none it must not have. (test_live.py starts a real server
from the rendered HCL.)"""

from __future__ import annotations

import shutil
import socket
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pyinfra.api import OperationError
from pyinfra.context import ctx_host

from roles.vault import client as vault_client
from roles.vault import ops
from roles.vault.keys import init_document
from roles.vault.settings import ANY_ADDRESS, VaultServerSettings
from tests.unit.vault.conftest import BaoServer, SandboxHost, render, role_template_args

TRANSIT = {
    "address": "https://seal.example.org:8200",
    "key_name": "nas1-seal",
    "mount_path": "transit-seal/",
}

LISTENER_HOST = """
listener "tcp" {
  address = "10.99.0.11:8200"
  cluster_address = "127.0.0.1:8201"
  tls_cert_file = "/etc/sovereign/vault/tls/server.crt"
  tls_key_file = "/etc/sovereign/vault/tls/server.key"
  tls_min_version = "tls12"
}
"""
LISTENER_LOOPBACK = """
listener "tcp" {
  address = "127.0.0.1:8200"
  tls_cert_file = "/etc/sovereign/vault/tls/server.crt"
  tls_key_file = "/etc/sovereign/vault/tls/server.key"
  tls_min_version = "tls12"
}
"""
STATIC_SEAL = """
seal "static" {
  current_key_id = "sovereign-1"
  current_key = "file:///etc/sovereign/vault/seal.key"
}
"""
AUDIT = """
audit "file" "sovereign" {
  options {
    file_path = "/var/log/vault/audit.log"
    mode = "0600"
  }
}
"""
RAFT = """
storage "raft" {
  path = "/tank/vault/raft"
  node_id = "nas1"
"""


def hcl(address: str = "10.99.0.11", **settings: Any) -> str:
    return render(
        "server.hcl.j2", role_template_args(VaultServerSettings(**settings), address, "nas1")
    )


def unit(**settings: Any) -> list[str]:
    args = role_template_args(VaultServerSettings(**settings), "10.99.0.11", "nas1")
    return render("vault.service.j2", args).splitlines()


def test_openbao_static() -> None:
    text = hcl()
    assert "disable_mlock" not in text  # OpenBao does not know the key
    assert 'api_addr = "https://10.99.0.11:8200"\n' in text
    assert 'cluster_addr = "https://127.0.0.1:8201"\n' in text  # no peers: loopback only
    assert RAFT in text
    assert "performance_multiplier = 1\n" in text
    assert LISTENER_HOST + LISTENER_LOOPBACK in text
    assert text.count('listener "tcp"') == 2
    assert text.count("cluster_address") == 1  # only on the first listener
    assert "# Auto-unseal from a key generated on this host" in text
    assert STATIC_SEAL in text
    assert 'seal "transit"' not in text
    assert AUDIT in text
    assert "tls_disable" not in text


def test_openbao_shamir_has_no_seal_stanza() -> None:
    text = hcl(seal="shamir")
    assert 'seal "' not in text
    assert "disable_mlock" not in text
    assert LISTENER_HOST + LISTENER_LOOPBACK in text
    assert AUDIT in text


@pytest.mark.parametrize(("mlock", "disable"), [(True, "false"), (False, "true")])
def test_hashicorp_transit(mlock: bool, disable: str) -> None:
    text = hcl(flavour="hashicorp", seal="transit", transit=TRANSIT, mlock=mlock)
    assert text.count("disable_mlock") == 1
    assert f"\ndisable_mlock = {disable}\napi_addr = " in text
    assert (
        '\nseal "transit" {\n  address = "https://seal.example.org:8200"\n'
        '  key_name = "nas1-seal"\n  mount_path = "transit-seal/"\n}\n'
    ) in text
    assert "tls_ca_cert" not in text
    assert "token" not in text.split('seal "transit"')[1].split("}")[0]  # token: environment
    assert 'seal "static"' not in text
    assert AUDIT in text


def test_transit_with_its_own_ca() -> None:
    text = hcl(seal="transit", transit={**TRANSIT, "ca_cert": "/home/op/seal-ca.pem"})
    assert (
        '  mount_path = "transit-seal/"\n'
        '  tls_ca_cert = "/etc/sovereign/vault/tls/transit-ca.crt"\n}\n'
    ) in text


def test_any_address_listens_once_and_advertises_loopback() -> None:
    text = hcl(ANY_ADDRESS)
    assert text.count('listener "tcp"') == 1
    assert 'address = "0.0.0.0:8200"\n  cluster_address = "127.0.0.1:8201"\n' in text
    assert 'api_addr = "https://127.0.0.1:8200"\n' in text


def test_cluster_port_faces_the_peers_only_when_declared() -> None:
    args = role_template_args(VaultServerSettings(), "10.99.0.11", "nas1")
    assert args["cluster_listen"] == "127.0.0.1:8201"
    from roles.vault import render_args

    with_peers = render_args(VaultServerSettings(), "10.99.0.11", "nas1", "/usr/local/bin/bao",
                             peers=["10.99.0.12"])  # fmt: skip
    text = render("server.hcl.j2", with_peers)
    assert 'cluster_addr = "https://10.99.0.11:8201"\n' in text
    assert 'address = "10.99.0.11:8200"\n  cluster_address = "10.99.0.11:8201"\n' in text


def test_loopback_address_listens_once() -> None:
    text = hcl("127.0.0.1")
    assert text.count('listener "tcp"') == 1
    assert 'address = "127.0.0.1:8200"\n  cluster_address = "127.0.0.1:8201"\n' in text


def test_unit_without_mlock_has_no_capabilities() -> None:
    lines = unit()
    assert "CapabilityBoundingSet=" in lines
    assert "AmbientCapabilities=" in lines
    assert not [line for line in lines if "CAP_IPC_LOCK" in line or "MEMLOCK" in line]
    assert "ExecStart=/usr/local/bin/bao server -config=/etc/sovereign/vault/server.hcl" in lines
    assert "User=vault" in lines
    assert "ReadWritePaths=/tank/vault /var/log/vault" in lines
    assert "LimitCORE=0" in lines
    assert "NoNewPrivileges=yes" in lines
    assert "ProtectSystem=strict" in lines


def test_unit_with_mlock_gets_cap_ipc_lock() -> None:
    lines = unit(flavour="hashicorp", seal="shamir", mlock=True)
    assert "CapabilityBoundingSet=CAP_IPC_LOCK" in lines
    assert "AmbientCapabilities=CAP_IPC_LOCK" in lines
    assert "LimitMEMLOCK=infinity" in lines
    assert "CapabilityBoundingSet=" not in lines
    assert "ExecStart=/usr/bin/vault server -config=/etc/sovereign/vault/server.hcl" in lines


@pytest.mark.parametrize("on_dataset", [True, False])
def test_unit_waits_for_the_dataset_only_when_it_is_one(on_dataset: bool) -> None:
    lines = unit(data_is_dataset=on_dataset)
    pre = [line for line in lines if line.startswith("ExecStartPre=")]
    assert pre == (["ExecStartPre=/usr/bin/mountpoint -q /tank/vault"] if on_dataset else [])


@pytest.mark.parametrize(
    ("settings", "env"),
    [
        ({"seal": "transit", "transit": TRANSIT}, True),
        ({"seal": "static"}, False),
        ({"seal": "shamir"}, False),
    ],
)
def test_unit_environment_file_only_for_transit(settings: dict[str, Any], env: bool) -> None:
    lines = [line for line in unit(**settings) if line.startswith("EnvironmentFile=")]
    assert lines == (["EnvironmentFile=/etc/sovereign/vault/seal.env"] if env else [])


def test_logrotate_reopens_the_audit_log() -> None:
    args = role_template_args(
        VaultServerSettings(audit_log="/var/log/bao/audit.log"), "10.0.0.1", "h"
    )
    text = render("logrotate.j2", args)
    assert text.splitlines()[1] == "/var/log/bao/audit.log {"
    assert "    create 0600 vault vault\n" in text
    assert "        systemctl reload vault.service >/dev/null 2>&1 || true\n" in text


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="needs systemd-analyze")
@pytest.mark.parametrize("mlock", [True, False])
def test_systemd_accepts_the_unit(mlock: bool, tmp_path: Path, bao_binary: Path) -> None:
    cfg = VaultServerSettings(flavour="hashicorp", seal="transit", transit=TRANSIT, mlock=mlock)
    args = role_template_args(cfg, "10.99.0.11", "nas1", binary=str(bao_binary))
    path = tmp_path / "vault.service"
    path.write_text(render("vault.service.j2", args))
    result = subprocess.run(
        ["systemd-analyze", "verify", str(path)], capture_output=True, text=True, check=False
    )
    problems = [line for line in result.stderr.splitlines() if "vault.service" in line]
    assert result.returncode == 0, result.stderr
    assert problems == []


# --- rendered configurations a real server must accept ------------------------------------


def test_shamir_server_unseals_with_the_shares_and_seals_on_restart(
    make_server: Callable[..., BaoServer], tmp_path: Path
) -> None:
    server = make_server("shamir", seal="shamir")
    server.start()
    vault = server.client()
    status = vault_client.seal_status(vault, 10)
    assert (status["type"], status["initialized"]) == ("shamir", False)
    init = vault_client.initialise(vault, automatic_unseal=False, shares=3, threshold=2)
    assert len(init["keys_base64"]) == 3
    document = init_document("h", init, 2)
    assert (document["kind"], document["keys_b64"]) == ("unseal", init["keys_base64"])
    vault_client.unseal_with(vault, init["keys_base64"], 2)
    vault_client.wait_unsealed(vault, 20)
    server.stop()
    server.start()
    assert vault_client.seal_status(vault, 10)["sealed"] is True  # shamir: the operator unseals
    # ...and the deploy says so, from the fact's own command against this server
    host = SandboxHost(tmp_path / "etc")
    host.install_ca(server)
    with ctx_host.use(host), pytest.raises(OperationError, match="sovereign vault unseal"):
        list(
            ops.configure._inner(
                binary=str(server.binary),
                port=server.cfg.port,
                kv_mount="sovereign",
                transit_mount="transit",
                automatic_unseal=False,
                key_shares=3,
                key_threshold=2,
                controller_dir=str(tmp_path / "ctl"),
                ca_cert=str(server.tls.ca_cert),
                age_recipients=[],
            )
        )
    assert not (tmp_path / "ctl").exists()


@pytest.mark.skipif(not socket.has_ipv6, reason="no IPv6")
def test_ipv6_listen_address_starts(make_server: Callable[..., BaoServer]) -> None:
    server = make_server("v6", address="::1")
    server.start()  # brackets around the address, or bao refuses the config
    assert vault_client.seal_status(server.client(), 10)["initialized"] is False
