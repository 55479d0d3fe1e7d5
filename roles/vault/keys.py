"""Where the deploy keeps what Vault's initialisation returns, on the controller only.

The unseal (or recovery) keys are encrypted to the operator's age public keys. With no key
configured they go to a file only the operator can read, and the deploy says so loudly. The
initial root token is kept with them only as a record: the deploy revokes it once Vault is
configured (and if a deploy died before that, it is the operator's way back in).
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

INIT_PLAIN = "init-keys.json"
INIT_AGE = "init-keys.json.age"
DEPLOY_CREDENTIALS = "deploy-approle.json"


def write_private(path: Path, data: bytes) -> None:
    """Create (never overwrite) a file only the operator can read."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def init_document(host_name: str, response: dict[str, Any], threshold: int) -> dict[str, Any]:
    """What to keep of `sys/init`'s answer: the key shares and the (soon revoked) root token."""
    recovery = response.get("recovery_keys_b64") or []
    return {
        "host": host_name,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "kind": "recovery" if recovery else "unseal",
        "threshold": threshold,
        "keys_b64": recovery or response.get("keys_base64") or [],
        "root_token": response.get("root_token"),
        "root_token_note": "revoked by the deploy once Vault was configured",
    }


def keys_path(directory: Path) -> Path | None:
    for name in (INIT_AGE, INIT_PLAIN):
        if (directory / name).exists():
            return directory / name
    return None


def save_init_keys(directory: Path, document: dict[str, Any], recipients: list[str]) -> Path:
    """Write the key shares; returns the file. Refuses to overwrite keys of an earlier init."""
    if existing := keys_path(directory):
        raise FileExistsError(
            f"{existing} already holds keys of an earlier initialisation: not overwritten"
        )
    payload = json.dumps(document, indent=2).encode()
    if recipients:
        import pyrage

        parsed = [pyrage.x25519.Recipient.from_str(r) for r in recipients]
        path = directory / INIT_AGE
        write_private(path, pyrage.encrypt(payload, parsed))
    else:
        path = directory / INIT_PLAIN
        write_private(path, payload)
    return path


def load_init_keys(path: Path, identity_file: Path | None = None) -> dict[str, Any]:
    """Read a key file written by save_init_keys (decrypting with the operator's age identity)."""
    raw = path.read_bytes()
    if path.name.endswith(".age"):
        if identity_file is None:
            raise ValueError(f"{path} is encrypted: give the age identity file that opens it")
        import pyrage

        identities = [
            pyrage.x25519.Identity.from_str(line.strip())
            for line in identity_file.read_text().splitlines()
            if line.startswith("AGE-SECRET-KEY-")
        ]
        if not identities:
            raise ValueError(f"{identity_file} holds no age identity (AGE-SECRET-KEY-…)")
        raw = pyrage.decrypt(raw, identities)
    document: dict[str, Any] = json.loads(raw)
    return document
