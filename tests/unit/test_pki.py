"""The appliance CA: one per host on the controller (Vault's directory on hosts with Vault),
issuing each service its own certificate; the names a service certificate carries."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.x509.verification import PolicyBuilder, Store

from controller.pki import ensure_ca, ensure_certificate, ensure_tls
from roles.pki.settings import controller_dir, default_controller_dir, service_names
from roles.settings import RoleSettingsError
from roles.spec import parse_host_spec

NOW = dt.datetime(2026, 1, 15, 12, 0, tzinfo=dt.UTC)
DISKS = {"storage": {"disks": [f"/dev/disk/by-id/d{n}" for n in range(6)]}}


def host(**data: Any) -> dict[str, Any]:
    return {"ssh_hostname": "10.99.0.11", **DISKS, **data}


def load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_services_share_one_ca_and_get_their_own_keys(tmp_path: Path) -> None:
    vault, _ = ensure_tls(tmp_path, "nas1", ["localhost"], ["127.0.0.1"], NOW)
    edge, reason = ensure_certificate(tmp_path, "nas1", "edge", ["nas1"], ["10.99.0.11"], NOW)
    assert reason == "no server certificate yet"
    assert edge.ca_cert == vault.ca_cert
    assert edge.server_key.read_bytes() != vault.server_key.read_bytes()
    assert sorted(p.name for p in (tmp_path / "tls").iterdir()) == [
        "ca.crt", "ca.key", "edge.crt", "edge.key", "server.crt", "server.key",
    ]  # fmt: skip
    verifier = (
        PolicyBuilder().store(Store([load(edge.ca_cert)])).time(NOW)
        .build_server_verifier(x509.DNSName("nas1"))
    )  # fmt: skip
    verifier.verify(load(edge.server_cert), [])
    again, reason = ensure_certificate(tmp_path, "nas1", "edge", ["nas1"], ["10.99.0.11"], NOW)
    assert reason is None and again.server_cert.read_bytes() == edge.server_cert.read_bytes()


def test_the_ca_is_made_once(tmp_path: Path) -> None:
    first = ensure_ca(tmp_path, "nas1", NOW).read_bytes()
    assert ensure_ca(tmp_path, "nas1", NOW + dt.timedelta(days=30)).read_bytes() == first
    subject = load(tmp_path / "tls" / "ca.crt").subject.rfc4514_string()
    assert "Sovereign Appliance CA (nas1)" in subject


def test_ca_directory_is_vaults_on_hosts_with_vault(tmp_path: Path) -> None:
    with_vault = parse_host_spec("nas1", host(vault={"controller_dir": str(tmp_path / "v")}))
    assert controller_dir(with_vault) == tmp_path / "v"
    without = parse_host_spec("nas1", host())
    assert controller_dir(without) == default_controller_dir("nas1")
    assert default_controller_dir("nas1").parts[-3:] == ("sovereign", "appliance", "nas1")
    declared = parse_host_spec("nas1", host(pki={"controller_dir": str(tmp_path / "p")}))
    assert controller_dir(declared) == tmp_path / "p"


def test_a_second_ca_directory_beside_vaults_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RoleSettingsError, match=r"pki\.controller_dir"):
        parse_host_spec(
            "nas1",
            host(vault={"controller_dir": str(tmp_path / "v")},
                 pki={"controller_dir": str(tmp_path / "p")}),
        )  # fmt: skip


def test_bad_extra_sans_name_the_field() -> None:
    with pytest.raises(RoleSettingsError, match=r"pki\.extra_sans"):
        parse_host_spec("nas1", host(pki={"extra_sans": ["not a name!"]}))


def test_service_names() -> None:
    spec = parse_host_spec(
        "nas1", host(base={"hostname": "box"}, pki={"extra_sans": ["nas.example.org", "::1"]})
    )
    dns, ips = service_names(spec, ["0.0.0.0", "192.0.2.4"])  # noqa: S104 - skipped
    assert dns == ["box", "localhost", "nas.example.org", "nas1"]
    assert ips == ["10.99.0.11", "127.0.0.1", "192.0.2.4", "::1"]
