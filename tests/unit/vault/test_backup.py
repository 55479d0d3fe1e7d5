"""The Vault role's key backups: the controller archive is the same bytes for the same files
(so its digest says when to encrypt again), a change or a new recipient changes the digest,
and the encrypted copy opens with the operator's identity only."""

from __future__ import annotations

import io
import tarfile
import time
from pathlib import Path

import pyrage

from roles.common.facts import DigestMarker
from roles.vault.backup import controller_archive, digest


def test_archive_is_deterministic_and_follows_the_files(tmp_path: Path) -> None:
    vault = tmp_path / "h1"
    (vault / "tls").mkdir(parents=True)
    (vault / "deploy-approle.json").write_text('{"role_id": "r"}')
    (vault / "tls" / "ca.crt").write_text("CERT")
    first = controller_archive([vault, tmp_path / "missing"])
    time.sleep(0.01)
    (vault / "tls" / "ca.crt").touch()  # a new mtime alone changes nothing
    assert controller_archive([vault]) == first
    with tarfile.open(fileobj=io.BytesIO(first)) as tar:
        assert sorted(tar.getnames()) == ["h1/deploy-approle.json", "h1/tls/ca.crt"]
    recipients = [pyrage.x25519.Identity.generate().to_public().__str__()]
    before = digest(first, recipients)
    (vault / "admin-approle.json.age").write_bytes(b"new")
    assert digest(controller_archive([vault]), recipients) != before
    other = [str(pyrage.x25519.Identity.generate().to_public())]
    assert digest(first, other) != before


def test_encrypted_copy_opens_with_the_operator_identity_only(tmp_path: Path) -> None:
    operator = pyrage.x25519.Identity.generate()
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "init-keys.json.age").write_bytes(b"shares")
    payload = controller_archive([tmp_path / "keys"])
    sealed = pyrage.encrypt(payload, [operator.to_public()])
    assert b"shares" not in sealed
    assert pyrage.decrypt(sealed, [operator]) == payload


def test_seal_copy_state_parses_digests_only() -> None:
    fact = DigestMarker()
    assert fact.process(["current abc", "copied abc"]) == {"current": "abc", "copied": "abc"}
    assert fact.process(["copied"]) == {"current": "", "copied": ""}
    assert "cat /k" in fact.command(path="/k", marker="/m", tag="age1x")
