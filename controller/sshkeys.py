"""SSH material the deploy keeps on the controller: a host's replication key pair (made once,
beside the host's CA in its controller directory), and a host key as the controller's
known_hosts file knows it (the trust the deploy's own SSH connection already relies on)."""

from __future__ import annotations

from pathlib import Path

import paramiko
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from controller.errors import SovereignError
from controller.pki import write_private

REPLICATION_SUBDIR = "replication"


def ensure_key_pair(directory: Path, comment: str) -> tuple[bytes, str]:
    """`directory/replication/id_ed25519` (OpenSSH format, 0600) and its public line, made
    when missing; returns (private key file content, public key line)."""
    private = directory / REPLICATION_SUBDIR / "id_ed25519"
    if not private.exists():
        key = Ed25519PrivateKey.generate()
        write_private(
            private,
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.OpenSSH,
                serialization.NoEncryption(),
            ),
        )
    content = private.read_bytes()
    loaded = serialization.load_ssh_private_key(content, password=None)
    public = loaded.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    return content, f"{public.decode()} {comment}"


def known_host_key(known_hosts: Path, address: str, port: int = 22) -> tuple[str, str]:
    """(key type, base64) of the host key the controller's known_hosts file holds for
    address:port, preferring ed25519; hashed entries are matched too."""
    name = address if port == 22 else f"[{address}]:{port}"
    try:
        keys = paramiko.HostKeys(str(known_hosts))
    except OSError as exc:
        raise SovereignError(f"cannot read {known_hosts}: {exc.strerror}") from None
    found = keys.lookup(name)
    if not found:
        raise SovereignError(
            f"the controller does not know {name}'s SSH host key ({known_hosts}): connect to it "
            "once (deploy it), then deploy again"
        )
    for key_type in ("ssh-ed25519", "ecdsa-sha2-nistp256", "rsa-sha2-512", "ssh-rsa"):
        if key_type in found:
            return key_type, found[key_type].get_base64()
    key_type = next(iter(found.keys()))
    return key_type, found[key_type].get_base64()
