"""`sovereign sync restore` rebuilds a folder from the stand-in (NOT Nextcloud) with only its
address, the user's app password (in a file) and the operator's age identity file."""

from __future__ import annotations

import hashlib
from pathlib import Path

from click.testing import CliRunner

from appliance.sync import crypto
from sovereign.cli import cli
from tests.unit.sync.conftest import CHUNK, SyncBed


def test_restore_rebuilds_the_synced_folder_from_the_remote_and_the_key(
    bed: SyncBed, tmp_path: Path
) -> None:
    folder = tmp_path / "docs"
    files = {folder / "a.txt": b"alpha", folder / "deep" / "b.bin": bytes(range(256)) * 30000}
    for path, data in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    service = bed.service()
    for path in files:
        service.sync_document(path)
    bed.drain(service)
    assert len(files[folder / "deep" / "b.bin"]) > CHUNK  # a chunked one among them
    password_file = tmp_path / "app-password"
    password_file.write_text(bed.server.password + "\n")
    target = tmp_path / "restored"

    result = CliRunner().invoke(cli, [
        "sync", "restore", "--remote", bed.server.url, "--user", bed.server.user,
        "--password-file", str(password_file), "--identity", str(bed.operator_key),
        "--to", str(target),
    ])  # fmt: skip

    assert result.exit_code == 0, result.output
    assert "2 documents restored" in result.output
    assert bed.server.password not in result.output
    for path, data in files.items():
        rebuilt = target / str(path).lstrip("/")
        assert hashlib.sha256(rebuilt.read_bytes()).digest() == hashlib.sha256(data).digest()


def test_restore_with_a_key_that_opens_nothing_restores_nothing_and_fails(
    bed: SyncBed, tmp_path: Path
) -> None:
    doc = tmp_path / "x.txt"
    doc.write_text("x")
    service = bed.service()
    service.sync_document(doc)
    bed.drain(service)
    other = tmp_path / "other.key"
    other.write_text(f"# created: now\n{crypto.new_identity()}\n")
    password_file = tmp_path / "pw"
    password_file.write_text(bed.server.password)
    result = CliRunner().invoke(cli, [
        "sync", "restore", "--remote", bed.server.url, "--user", bed.server.user,
        "--password-file", str(password_file), "--identity", str(bed.operator_key.parent / "none"),
        "--to", str(tmp_path / "r"),
    ])  # fmt: skip
    assert result.exit_code == 2  # no such identity file
    result = CliRunner().invoke(cli, [
        "sync", "restore", "--remote", bed.server.url, "--user", bed.server.user,
        "--password-file", str(password_file), "--identity", str(other),
        "--to", str(tmp_path / "r"),
    ])  # fmt: skip
    assert result.exit_code == 1
    assert not (tmp_path / "r").exists() or not any((tmp_path / "r").rglob("*.txt"))
