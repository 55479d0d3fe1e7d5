"""Vault role settings: validation names the field, and the derived listeners, certificate
names and controller directory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyrage
import pytest

from roles.settings import RoleSettingsError, parse_settings
from roles.vault import binary_path, mlock_setting
from roles.vault.settings import (
    ANY_ADDRESS,
    VaultServerSettings,
    certificate_names,
    controller_dir,
    listeners,
    resolve_listen_address,
)

TRANSIT = {"address": "https://bao.example.org:8200"}


def test_defaults_are_openbao_static_seal_on_the_vault_dataset() -> None:
    cfg = VaultServerSettings()
    assert (cfg.flavour, cfg.seal, cfg.data_dir, cfg.port, cfg.cluster_port) == (
        "openbao",
        "static",
        "/tank/vault",
        8200,
        8201,
    )
    assert cfg.unseal_automatic
    assert not cfg.mlock
    assert mlock_setting(cfg) is None  # OpenBao does not know disable_mlock
    assert binary_path(cfg) == "/usr/local/bin/bao"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        # model-level checks: the message itself names the fields involved
        ({"flavour": "hashicorp"}, r"vault: .*seal: 'static' is OpenBao's"),
        ({"seal": "transit"}, r"vault: .*seal 'transit' needs the `transit` settings"),
        ({"key_shares": 3, "key_threshold": 4}, r"key_threshold \(4\) exceeds key_shares \(3\)"),
        ({"mlock": True}, r"vault: .*mlock: OpenBao has no mlock"),
        ({"port": 8300, "cluster_port": 8300}, r"port and cluster_port must differ"),
        # field-level checks: the location names the field
        ({"operator_age_recipients": ["age1notakey"]}, r"vault\.operator_age_recipients: .*item 0"),
        (
            {"seal": "transit", "transit": {"address": "http://bao.example.org:8200"}},
            r"vault\.transit\.address: .*https://",
        ),
        (
            {"seal": "transit", "transit": {**TRANSIT, "token_env": "lower-case"}},
            r"vault\.transit\.token_env",
        ),
        (
            {"extra_sans": ["vault.example.org", "not a name"]},
            r"vault\.extra_sans: .*'not a name' is neither an IP address nor a DNS name",
        ),
        ({"listen_address": "10.0.0.300"}, r"vault\.listen_address"),
        ({"data_dir": "tank/vault"}, r"vault\.data_dir: .*absolute"),
        ({"audit_log": "/var/log/../etc/shadow"}, r"vault\.audit_log: .*absolute"),
        ({"kv_mount": "Secrets"}, r"vault\.kv_mount: .*lower-case"),
        ({"port": 80}, r"vault\.port"),
        ({"key_shares": 11}, r"vault\.key_shares"),
        ({"unknown": 1}, r"vault\.unknown"),
        (
            {"transit": {**TRANSIT, "token": "s.inline"}, "seal": "transit"},
            r"vault\.transit\.token",
        ),
    ],
)
def test_bad_settings_name_the_field(data: dict[str, Any], expected: str) -> None:
    with pytest.raises(RoleSettingsError, match=rf"(?s)host h1: invalid `vault`.*{expected}"):
        parse_settings(VaultServerSettings, "vault", data, "h1")


@pytest.mark.parametrize(
    "data",
    [
        {"flavour": "hashicorp", "seal": "shamir"},
        {"flavour": "hashicorp", "seal": "transit", "transit": TRANSIT, "mlock": True},
        {"seal": "transit", "transit": {**TRANSIT, "ca_cert": "/etc/ssl/other.pem"}},
        {"key_shares": 1, "key_threshold": 1},
        {"extra_sans": ["*.vault.example.org", "fd00::5", "192.0.2.7"]},
    ],
)
def test_consistent_settings_accepted(data: dict[str, Any]) -> None:
    parse_settings(VaultServerSettings, "vault", data, "h1")


def test_transit_address_loses_its_trailing_slash() -> None:
    cfg = VaultServerSettings(seal="transit", transit={"address": "https://bao.example.org:8200/"})
    assert cfg.transit is not None
    assert cfg.transit.address == "https://bao.example.org:8200"
    assert not VaultServerSettings(seal="shamir").unseal_automatic


def test_real_age_recipient_accepted() -> None:
    recipient = str(pyrage.x25519.Identity.generate().to_public())
    cfg = VaultServerSettings(operator_age_recipients=[recipient])
    assert cfg.operator_age_recipients == [recipient]


def test_hashicorp_binary_and_mlock_setting() -> None:
    apt = VaultServerSettings(flavour="hashicorp", seal="shamir")
    artifact = VaultServerSettings(flavour="hashicorp", seal="shamir", hashicorp_source="artifact")
    assert binary_path(apt) == "/usr/bin/vault"
    assert binary_path(artifact) == "/usr/local/bin/vault"
    assert mlock_setting(apt) == "true"  # disable_mlock = true
    assert (
        mlock_setting(VaultServerSettings(flavour="hashicorp", seal="shamir", mlock=True))
        == "false"
    )


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("10.99.0.11", ["10.99.0.11", "127.0.0.1"]),
        ("127.0.0.1", ["127.0.0.1"]),
        (ANY_ADDRESS, [ANY_ADDRESS]),  # covers loopback already
    ],
)
def test_listeners(address: str, expected: list[str]) -> None:
    assert listeners(address) == expected


def test_certificate_names_split_ips_from_dns_and_dedupe() -> None:
    cfg = VaultServerSettings(
        extra_sans=["vault.example.org", "10.99.0.11", "192.0.2.7", "9.9.9.9"]
    )
    dns, ips = certificate_names(cfg, "10.99.0.11", "nas1", "10.99.0.11")
    assert dns == ["localhost", "nas1", "vault.example.org"]
    assert ips == ["9.9.9.9", "10.99.0.11", "127.0.0.1", "192.0.2.7"]  # numeric order, once each


def test_certificate_names_with_an_ipv6_san() -> None:
    cfg = VaultServerSettings(extra_sans=["fd00::5"])
    _, ips = certificate_names(cfg, "10.99.0.11", "nas1", "10.99.0.11")
    assert set(ips) == {"10.99.0.11", "127.0.0.1", "fd00::5"}


def test_certificate_names_skip_any_address_and_keep_a_dns_ssh_hostname() -> None:
    dns, ips = certificate_names(VaultServerSettings(), ANY_ADDRESS, "nas1", "nas1.example.org")
    assert dns == ["localhost", "nas1", "nas1.example.org"]
    assert ips == ["127.0.0.1"]
    assert ANY_ADDRESS not in dns + ips


def test_certificate_names_drop_a_host_name_that_is_no_dns_name() -> None:
    dns, _ = certificate_names(VaultServerSettings(), "10.0.0.1", "lab_host 1", None)
    assert dns == ["localhost"]


def test_resolve_listen_address() -> None:
    assert resolve_listen_address(VaultServerSettings(), "10.99.0.11") == "10.99.0.11"
    assert (
        resolve_listen_address(VaultServerSettings(listen_address="192.0.2.5"), "nas1")
        == "192.0.2.5"
    )
    with pytest.raises(ValueError, match=r"vault\.listen_address: required"):
        resolve_listen_address(VaultServerSettings(), "nas1.example.org")
    with pytest.raises(ValueError, match=r"vault\.listen_address"):
        resolve_listen_address(VaultServerSettings(), None)


def test_controller_dir_default_honours_xdg_state_home(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    assert controller_dir(VaultServerSettings(), "nas1") == tmp_path / "state/sovereign/vault/nas1"
    monkeypatch.delenv("XDG_STATE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert (
        controller_dir(VaultServerSettings(), "nas1")
        == tmp_path / "home/.local/state/sovereign/vault/nas1"
    )


def test_controller_dir_explicit_expands_the_home(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_STATE_HOME", "/elsewhere")
    cfg = VaultServerSettings(controller_dir="~/vault-nas1")
    assert controller_dir(cfg, "nas1") == tmp_path / "vault-nas1"
