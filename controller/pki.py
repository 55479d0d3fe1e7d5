"""The appliance CA: one per host, made and kept on the controller, and the server
certificates it issues (Vault's listener, the edge, PostgreSQL, later Nextcloud).

The CA key never leaves the controller; the CA certificate goes to the host (for the agent and
other local clients) and stays with the operator. A certificate is issued again only when its
names change, it nears expiry, or the CA changed: a second deploy uploads nothing new.

Layout of a host's directory (`DIR/tls/`): `ca.crt`, `ca.key`, and `NAME.crt` / `NAME.key` per
service certificate (Vault's is `server.*`, the name it has had since the start).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_DAYS = 3650
SERVER_DAYS = 397  # what browsers and most clients still accept for a leaf
RENEW_BEFORE = dt.timedelta(days=30)
CA_USAGE = x509.KeyUsage(
    digital_signature=False, content_commitment=False, key_encipherment=False,
    data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
    encipher_only=False, decipher_only=False,
)  # fmt: skip


CA_NAME = "Sovereign Appliance CA"
TLS_SUBDIR = "tls"


@dataclass(frozen=True)
class TlsFiles:
    ca_cert: Path
    server_cert: Path
    server_key: Path


def write_private(path: Path, data: bytes) -> None:
    """Write a file only its owner can read, atomically (a half-written key is worse than none)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    tmp.replace(path)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def make_ca(common_name: str, now: dt.datetime) -> tuple[bytes, bytes]:
    """(certificate PEM, key PEM) of a new CA."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(CA_USAGE, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM), _key_pem(key)


def issue_server_cert(
    ca_cert_pem: bytes, ca_key_pem: bytes, dns: list[str], ips: list[str], now: dt.datetime
) -> tuple[bytes, bytes]:
    """(certificate PEM, key PEM) for the listener, valid for the given names."""
    ca_cert = x509.load_pem_x509_certificate(ca_cert_pem)
    ca_key = serialization.load_pem_private_key(ca_key_pem, password=None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    key = ec.generate_private_key(ec.SECP256R1())
    sans: list[x509.GeneralName] = [x509.DNSName(d) for d in dns]
    sans += [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, (dns or ips)[0])]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=SERVER_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM), _key_pem(key)


def reissue_reason(
    cert_pem: bytes | None, ca_cert_pem: bytes, dns: list[str], ips: list[str], now: dt.datetime
) -> str | None:
    """Why the server certificate must be issued again, or None when it is fine (pure)."""
    if cert_pem is None:
        return "no server certificate yet"
    cert = x509.load_pem_x509_certificate(cert_pem)
    ca = x509.load_pem_x509_certificate(ca_cert_pem)
    if cert.issuer != ca.subject:
        return "issued by another CA"
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, Exception):
        return "not signed by the current CA"
    if cert.not_valid_after_utc - now < RENEW_BEFORE:
        return f"expires {cert.not_valid_after_utc:%Y-%m-%d}"
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    have_dns = sorted(san.get_values_for_type(x509.DNSName))
    have_ips = sorted(str(i) for i in san.get_values_for_type(x509.IPAddress))
    if have_dns != sorted(dns) or have_ips != sorted(ips):
        return f"names changed (now {sorted(dns) + sorted(ips)})"
    return None


def ca_expiring(ca_cert: Path, now: dt.datetime) -> bool:
    """A CA that would expire before a server certificate issued now: make a new one (the
    deploy hands its certificate to the host; every client of the appliance needs it)."""
    ca = x509.load_pem_x509_certificate(ca_cert.read_bytes())
    return ca.not_valid_after_utc - now < dt.timedelta(days=SERVER_DAYS) + RENEW_BEFORE


def ensure_ca(directory: Path, host_name: str, now: dt.datetime | None = None) -> Path:
    """The host's CA in `directory/tls/` (made once, and again only before it expires);
    returns its certificate's path."""
    now = now or dt.datetime.now(dt.UTC)
    tls = directory / TLS_SUBDIR
    ca_cert, ca_key = tls / "ca.crt", tls / "ca.key"
    if not (ca_cert.exists() and ca_key.exists()) or ca_expiring(ca_cert, now):
        cert_pem, key_pem = make_ca(f"{CA_NAME} ({host_name})", now)
        write_private(ca_key, key_pem)
        write_private(ca_cert, cert_pem)
    return ca_cert


def ensure_certificate(
    directory: Path,
    host_name: str,
    name: str,
    dns: list[str],
    ips: list[str],
    now: dt.datetime | None = None,
) -> tuple[TlsFiles, str | None]:
    """The CA (see ensure_ca) and the server certificate `name` (`tls/NAME.crt`, `.key`),
    issued when needed; returns the files and why a new certificate was issued (None when
    nothing changed)."""
    now = now or dt.datetime.now(dt.UTC)
    ca_cert = ensure_ca(directory, host_name, now)
    tls = ca_cert.parent
    files = TlsFiles(ca_cert, tls / f"{name}.crt", tls / f"{name}.key")
    current = files.server_cert.read_bytes() if files.server_cert.exists() else None
    ca_cert_pem = ca_cert.read_bytes()
    reason = reissue_reason(current, ca_cert_pem, dns, ips, now)
    if reason is None and files.server_key.exists():
        return files, None
    cert_pem, key_pem = issue_server_cert(ca_cert_pem, (tls / "ca.key").read_bytes(), dns, ips, now)
    write_private(files.server_key, key_pem)
    write_private(files.server_cert, cert_pem)
    return files, reason or "server key missing"


def ensure_tls(
    directory: Path, host_name: str, dns: list[str], ips: list[str], now: dt.datetime | None = None
) -> tuple[TlsFiles, str | None]:
    """Vault's listener certificate (`tls/server.*`) from the host's CA."""
    return ensure_certificate(directory, host_name, "server", dns, ips, now)
