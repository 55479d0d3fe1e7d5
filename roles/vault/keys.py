"""Where the deploy keeps what Vault's initialisation returns, on the controller only.

The unseal (or recovery) keys are encrypted to the operator's age public keys. With no key
configured they go to a file only the operator can read, and the deploy says so loudly. The
initial root token is kept with them only as a record: the deploy revokes it once Vault is
configured (and if a deploy died before that, it is the operator's way back in).

After the revocation the operator's way in is the break-glass AppRole `sovereign-admin`,
whose credentials are kept the same way (`admin-approle.json.age`): OpenBao 2.7 no longer
makes root tokens from recovery keys without an authenticated caller.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

INIT_KEYS = "init-keys.json"
INIT_PLAIN, INIT_AGE = INIT_KEYS, f"{INIT_KEYS}.age"
ADMIN_CREDENTIALS = "admin-approle.json"
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
    # The API answers `recovery_keys_base64` / `keys_base64` (`…_b64` is the CLI's JSON).
    recovery = response.get("recovery_keys_base64") or response.get("recovery_keys_b64") or []
    return {
        "host": host_name,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "kind": "recovery" if recovery else "unseal",
        "threshold": threshold,
        "keys_b64": recovery or response.get("keys_base64") or response.get("keys_b64") or [],
        "root_token": response.get("root_token"),
        "root_token_note": "revoked by the deploy once Vault was configured",
    }


def operator_file(directory: Path, name: str) -> Path | None:
    """The operator's copy of `name` (encrypted or not), if there is one."""
    for candidate in (f"{name}.age", name):
        if (directory / candidate).exists():
            return directory / candidate
    return None


def keys_path(directory: Path) -> Path | None:
    return operator_file(directory, INIT_KEYS)


def save_for_operator(
    directory: Path, name: str, document: dict[str, Any], recipients: list[str]
) -> Path:
    """Write a document only the operator can open: age-encrypted to `recipients`, else a
    mode-600 file. Refuses to overwrite an earlier one."""
    if existing := operator_file(directory, name):
        raise FileExistsError(f"{existing} already exists: not overwritten")
    payload = json.dumps(document, indent=2).encode()
    if recipients:
        import pyrage

        parsed = [pyrage.x25519.Recipient.from_str(r) for r in recipients]
        path = directory / f"{name}.age"
        write_private(path, pyrage.encrypt(payload, parsed))
    else:
        path = directory / name
        write_private(path, payload)
    return path


def save_init_keys(directory: Path, document: dict[str, Any], recipients: list[str]) -> Path:
    """Write the key shares; returns the file. Refuses to overwrite keys of an earlier init."""
    try:
        return save_for_operator(directory, INIT_KEYS, document, recipients)
    except FileExistsError as exc:
        raise FileExistsError(f"{exc} (keys of an earlier initialisation)") from None


def load_init_keys(path: Path, identity_file: Path | None = None) -> dict[str, Any]:
    """Read a file written by save_for_operator (decrypting with the operator's age identity)."""
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
