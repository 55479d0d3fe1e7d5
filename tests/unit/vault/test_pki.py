"""The listener's TLS made on the controller: a CA once, the server certificate only when its
names, its expiry or its CA call for it."""

from __future__ import annotations

import datetime as dt
import ipaddress
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from controller.pki import SERVER_DAYS, TlsFiles, ensure_tls, reissue_reason

NOW = dt.datetime(2026, 1, 15, 12, 0, tzinfo=dt.UTC)
DNS = ["localhost", "nas1"]
IPS = ["10.99.0.11", "127.0.0.1"]


def load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def sans(cert: x509.Certificate) -> tuple[list[str], list[str]]:
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return (
        sorted(san.get_values_for_type(x509.DNSName)),
        sorted(str(i) for i in san.get_values_for_type(x509.IPAddress)),
    )


def verify_server(
    files: TlsFiles, name: x509.GeneralName, at: dt.datetime
) -> list[x509.Certificate]:
    """Verify the server certificate for `name` the way a TLS client would."""
    verifier = (
        PolicyBuilder().store(Store([load(files.ca_cert)])).time(at).build_server_verifier(name)
    )
    return verifier.verify(load(files.server_cert), [])


@pytest.fixture
def issued(tmp_path: Path) -> tuple[Path, TlsFiles]:
    files, reason = ensure_tls(tmp_path / "ctl", "nas1", DNS, IPS, NOW)
    assert reason == "no server certificate yet"
    return tmp_path / "ctl", files


def test_server_certificate_verifies_against_the_ca(issued: tuple[Path, TlsFiles]) -> None:
    _, files = issued
    for name in (x509.DNSName("nas1"), x509.DNSName("localhost")):
        chain = verify_server(files, name, NOW)
        assert chain[-1] == load(files.ca_cert)
    verify_server(files, x509.IPAddress(ipaddress.ip_address("10.99.0.11")), NOW)
    with pytest.raises(VerificationError):
        verify_server(files, x509.DNSName("other.example.org"), NOW)


def test_server_certificate_carries_server_auth_and_the_names(
    issued: tuple[Path, TlsFiles],
) -> None:
    _, files = issued
    cert = load(files.server_cert)
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.SERVER_AUTH in eku
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert sans(cert) == (DNS, IPS)
    assert cert.not_valid_after_utc - NOW == dt.timedelta(days=SERVER_DAYS)
    ca = load(files.ca_cert)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert "nas1" in ca.subject.rfc4514_string()


def test_files_are_private(issued: tuple[Path, TlsFiles]) -> None:
    directory, files = issued
    tls = directory / "tls"
    assert stat.S_IMODE(tls.stat().st_mode) == 0o700
    for path in (files.ca_cert, files.server_cert, files.server_key, tls / "ca.key"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert sorted(p.name for p in tls.iterdir()) == ["ca.crt", "ca.key", "server.crt", "server.key"]


def test_second_call_changes_nothing(issued: tuple[Path, TlsFiles]) -> None:
    directory, files = issued
    before = {p: p.read_bytes() for p in (directory / "tls").iterdir()}
    again, reason = ensure_tls(directory, "nas1", list(reversed(DNS)), list(reversed(IPS)), NOW)
    assert reason is None
    assert again == files
    assert {p: p.read_bytes() for p in (directory / "tls").iterdir()} == before


def test_names_changed_reissues_with_the_new_names(issued: tuple[Path, TlsFiles]) -> None:
    directory, files = issued
    ca_before = files.ca_cert.read_bytes()
    old = files.server_cert.read_bytes()
    _, reason = ensure_tls(directory, "nas1", [*DNS, "vault.example.org"], IPS, NOW)
    assert reason is not None
    assert reason.startswith("names changed")
    assert files.server_cert.read_bytes() != old
    assert files.ca_cert.read_bytes() == ca_before  # same CA
    assert sans(load(files.server_cert)) == (["localhost", "nas1", "vault.example.org"], IPS)
    verify_server(files, x509.DNSName("vault.example.org"), NOW)


def test_near_expiry_reissues(issued: tuple[Path, TlsFiles]) -> None:
    directory, files = issued
    old = load(files.server_cert)
    later = NOW + dt.timedelta(days=380)  # 17 days left of 397
    _, reason = ensure_tls(directory, "nas1", DNS, IPS, later)
    assert reason == f"expires {old.not_valid_after_utc:%Y-%m-%d}"
    assert load(files.server_cert).not_valid_after_utc == later + dt.timedelta(days=SERVER_DAYS)
    verify_server(files, x509.DNSName("nas1"), later)


def test_not_yet_near_expiry_is_kept(issued: tuple[Path, TlsFiles]) -> None:
    directory, files = issued
    old = files.server_cert.read_bytes()
    _, reason = ensure_tls(directory, "nas1", DNS, IPS, NOW + dt.timedelta(days=360))
    assert reason is None
    assert files.server_cert.read_bytes() == old


def test_replaced_ca_reissues(issued: tuple[Path, TlsFiles]) -> None:
    directory, files = issued
    old_ca = files.ca_cert.read_bytes()
    old = files.server_cert.read_bytes()
    files.ca_cert.unlink()
    (directory / "tls" / "ca.key").unlink()
    _, reason = ensure_tls(directory, "nas1", DNS, IPS, NOW)
    # Same subject (same host name), so the signature is what tells the CAs apart.
    assert reason == "not signed by the current CA"
    assert files.ca_cert.read_bytes() != old_ca
    assert files.server_cert.read_bytes() != old
    verify_server(files, x509.DNSName("nas1"), NOW)


def test_ca_of_another_host_is_another_issuer(
    issued: tuple[Path, TlsFiles], tmp_path: Path
) -> None:
    _, files = issued
    other, _ = ensure_tls(tmp_path / "other", "nas2", DNS, IPS, NOW)
    reason = reissue_reason(
        files.server_cert.read_bytes(), other.ca_cert.read_bytes(), DNS, IPS, NOW
    )
    assert reason == "issued by another CA"


def test_missing_server_key_reissues(issued: tuple[Path, TlsFiles]) -> None:
    directory, files = issued
    old = files.server_cert.read_bytes()
    files.server_key.unlink()
    _, reason = ensure_tls(directory, "nas1", DNS, IPS, NOW)
    assert reason == "server key missing"
    assert files.server_key.exists()
    assert files.server_cert.read_bytes() != old


def test_chain_still_valid_after_the_ca_expired(issued: tuple[Path, TlsFiles]) -> None:
    directory, files = issued
    later = load(files.ca_cert).not_valid_after_utc + dt.timedelta(days=1)
    ensure_tls(directory, "nas1", DNS, IPS, later)
    verify_server(files, x509.DNSName("nas1"), later)
