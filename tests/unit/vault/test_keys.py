"""Init keys on the controller: encrypted to the operator's age keys, or a private plain file;
never overwritten."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pyrage
import pytest

from roles.vault.keys import (
    INIT_AGE,
    INIT_PLAIN,
    init_document,
    keys_path,
    load_init_keys,
    save_init_keys,
    write_private,
)

SHARES = [f"c2hhcmUtbnVtYmVyLXt7aX19LXNlY3JldC1ieXRlcw{i}==" for i in range(5)]


def init_response(kind: str) -> dict[str, Any]:
    """sys/init's answer (field names as OpenBao 2.7 and HashiCorp Vault send them)."""
    auto = kind == "recovery"
    return {
        "keys": [] if auto else [f"hex{i}" for i in range(5)],
        "keys_base64": [] if auto else SHARES,
        "recovery_keys": [f"hex{i}" for i in range(5)] if auto else [],
        "recovery_keys_base64": SHARES if auto else [],
        "root_token": "s.rootroot",
    }


def document(kind: str = "unseal") -> dict[str, Any]:
    return init_document("nas1", init_response(kind), 3)


def identity_file(tmp_path: Path, *identities: pyrage.x25519.Identity) -> Path:
    path = tmp_path / "operator.age-key"
    lines = ["# created: by the test"]
    for ident in identities:
        lines += [f"# public key: {ident.to_public()}", str(ident)]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_init_document_keeps_the_unseal_shares() -> None:
    unseal = document("unseal")
    assert (unseal["host"], unseal["kind"], unseal["threshold"]) == ("nas1", "unseal", 3)
    assert unseal["keys_b64"] == SHARES


def test_init_document_keeps_the_recovery_shares() -> None:
    recovery = document("recovery")
    assert recovery["keys_b64"] == SHARES
    assert recovery["kind"] == "recovery"


def test_encrypted_to_age_recipients_round_trips(tmp_path: Path) -> None:
    alice, bob = pyrage.x25519.Identity.generate(), pyrage.x25519.Identity.generate()
    recipients = [str(alice.to_public()), str(bob.to_public())]
    doc = document()
    path = save_init_keys(tmp_path / "ctl", doc, recipients)
    assert path == tmp_path / "ctl" / INIT_AGE
    assert not (tmp_path / "ctl" / INIT_PLAIN).exists()
    raw = path.read_bytes()
    assert raw.startswith(b"age-encryption.org/v1")
    for share in SHARES:
        assert share.encode() not in raw
    assert b"s.rootroot" not in raw
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    # each recipient opens it alone
    assert load_init_keys(path, identity_file(tmp_path, bob)) == doc
    assert load_init_keys(path, identity_file(tmp_path, alice)) == doc
    assert keys_path(tmp_path / "ctl") == path


def test_without_recipients_a_private_plain_file(tmp_path: Path) -> None:
    doc = document()
    path = save_init_keys(tmp_path / "ctl", doc, [])
    assert path == tmp_path / "ctl" / INIT_PLAIN
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "ctl").stat().st_mode) == 0o700
    assert json.loads(path.read_text())["keys_b64"] == SHARES
    assert load_init_keys(path) == doc


@pytest.mark.parametrize("first", [[], ["age"]])
def test_refuses_to_overwrite_keys_of_an_earlier_init(tmp_path: Path, first: list[str]) -> None:
    recipients = [str(pyrage.x25519.Identity.generate().to_public())] if first else []
    earlier = save_init_keys(tmp_path, document(), recipients)
    before = earlier.read_bytes()
    for again in ([], [str(pyrage.x25519.Identity.generate().to_public())]):
        with pytest.raises(FileExistsError, match=str(earlier)):
            save_init_keys(tmp_path, document("unseal"), again)
    assert earlier.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [earlier.name]


def test_write_private_never_overwrites(tmp_path: Path) -> None:
    write_private(tmp_path / "f", b"one")
    with pytest.raises(FileExistsError):
        write_private(tmp_path / "f", b"two")
    assert (tmp_path / "f").read_bytes() == b"one"


def test_encrypted_file_needs_an_identity(tmp_path: Path) -> None:
    ident = pyrage.x25519.Identity.generate()
    path = save_init_keys(tmp_path, document(), [str(ident.to_public())])
    with pytest.raises(ValueError, match=r"is encrypted: give the age identity file"):
        load_init_keys(path)
    empty = tmp_path / "empty.key"
    empty.write_text("# nothing here\n")
    with pytest.raises(ValueError, match=r"holds no age identity"):
        load_init_keys(path, empty)


def test_wrong_identity_does_not_open_it(tmp_path: Path) -> None:
    ident = pyrage.x25519.Identity.generate()
    path = save_init_keys(tmp_path, document(), [str(ident.to_public())])
    stranger = identity_file(tmp_path, pyrage.x25519.Identity.generate())
    with pytest.raises(pyrage.DecryptError):
        load_init_keys(path, stranger)
