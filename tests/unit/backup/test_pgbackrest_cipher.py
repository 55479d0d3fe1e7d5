"""The pgBackRest repository's encryption: the setting resolved, the probe of the repository
(run for real on files like pgBackRest's, and parsed), the deploy's decision, and the
commands that make and install the passphrase file without it on a command line."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from roles.pgbackrest.cipher import (
    CIPHER_FILE,
    OPTION,
    OWNER,
    CipherRefused,
    CipherState,
    cipher_action,
    generate_command,
    install_command,
    own_command,
    parse_conf,
    parse_probe,
    repo_probe_command,
)
from roles.pgbackrest.plan import config_text
from roles.pgbackrest.settings import encrypted
from roles.postgres.settings import PostgresSettings
from roles.settings import RoleSettingsError
from roles.spec import parse_host_spec

HOST = {
    "lab_disks": ["/d/1", "/d/2", "/d/3", "/d/4"],
    "zfs_backend": "zfs-fuse",
    "ssh_hostname": "10.0.0.5",
}
RECIPIENT = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"
VAULT = {"vault": {"operator_age_recipients": [RECIPIENT]}}
REPO = "/tank/backups/pgbackrest"


@pytest.mark.parametrize(
    ("data", "want"),
    [
        ({}, False),  # no Vault: nowhere to keep the passphrase for a rebuild
        (VAULT, True),
        ({"vault": {}}, False),  # Vault without operator recipients
        ({**VAULT, "pgbackrest": {"repo_cipher": "none"}}, False),
        ({"vault": {"operator_age_recipients": [RECIPIENT], "backup": {"enabled": False}}}, False),
        ({**VAULT, "pgbackrest": {"enabled": False}}, False),
    ],
)
def test_auto_encrypts_where_vault_and_the_operator_keep_the_passphrase(
    data: dict[str, object], want: bool
) -> None:
    spec = parse_host_spec("h", {**HOST, **data})
    assert encrypted(spec.pgbackrest, spec.vault) is want


def test_explicit_cipher_without_a_place_for_the_passphrase_is_refused() -> None:
    with pytest.raises(RoleSettingsError, match=r"pgbackrest\.repo_cipher: aes-256-cbc needs"):
        parse_host_spec("h", {**HOST, "pgbackrest": {"repo_cipher": "aes-256-cbc"}})
    spec = parse_host_spec("h", {**HOST, **VAULT, "pgbackrest": {"repo_cipher": "aes-256-cbc"}})
    assert encrypted(spec.pgbackrest, spec.vault)


def test_config_names_the_cipher_never_the_passphrase() -> None:
    spec = parse_host_spec("h", {**HOST, **VAULT})
    text = config_text(spec.pgbackrest, PostgresSettings.model_validate({}), encrypted=True)
    assert "repo1-cipher-type=aes-256-cbc\n" in text
    assert "cipher-pass" not in text
    plain = config_text(spec.pgbackrest, PostgresSettings.model_validate({}))
    assert "cipher" not in plain


def probe(repo: Path) -> CipherState:
    proc = subprocess.run(
        ["bash", "-c", repo_probe_command(str(repo), "main")],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return parse_probe(proc.stdout.splitlines())


def test_probe_tells_an_absent_a_plain_and_an_encrypted_repository(tmp_path: Path) -> None:
    assert probe(tmp_path).repo == "none"
    archive = tmp_path / "archive" / "main"
    archive.mkdir(parents=True)
    (archive / "archive.info").write_text("[backrest]\nbackrest-format=5\n")
    assert probe(tmp_path).repo == "plain"
    backup = tmp_path / "backup" / "main"
    backup.mkdir(parents=True)  # backup.info is read first
    (backup / "backup.info").write_bytes(b"Salted__\x00\xff\x10\x0a" + os.urandom(40))
    assert probe(tmp_path).repo == "encrypted"


@pytest.mark.parametrize(
    ("lines", "want"),
    [
        (["pass no", "repo none"], CipherState(False, "none")),
        (
            ["pass yes", "owner root:postgres:640", "repo Salted__\\0377"],
            CipherState(True, "encrypted", OWNER),
        ),
        (
            ["pass yes", "owner root:root:600", "repo [backrest]"],
            CipherState(True, "plain", "root:root:600"),
        ),
        (["pass no", "repo \\0\\0\\0"], CipherState(False, "encrypted")),  # not ours to read
    ],
)
def test_parse_probe(lines: list[str], want: CipherState) -> None:
    assert parse_probe(lines) == want


def test_a_new_encrypted_repository_gets_a_passphrase_once() -> None:
    assert cipher_action(True, CipherState(False, "none"), REPO) == "generate"
    assert cipher_action(True, CipherState(True, "none", OWNER), REPO) is None
    assert cipher_action(True, CipherState(True, "encrypted", OWNER), REPO) is None
    # A rebuild's copy, written before the postgres user exists: given to it, not replaced.
    assert cipher_action(True, CipherState(True, "encrypted", "root:root:600"), REPO) == "own"
    assert cipher_action(False, CipherState(False, "plain"), REPO) is None
    assert cipher_action(False, CipherState(False, "none"), REPO) is None


@pytest.mark.parametrize(
    ("encrypt", "state", "message"),
    [
        (True, CipherState(False, "plain"), "UNENCRYPTED pgBackRest repository.*move it aside"),
        (True, CipherState(True, "plain"), "cannot encrypt an existing one"),
        (True, CipherState(False, "encrypted"), "a new passphrase would not open it"),
        (False, CipherState(True, "encrypted"), "is encrypted but pgbackrest.repo_cipher"),
    ],
)
def test_a_repository_the_setting_cannot_use_is_refused(
    encrypt: bool, state: CipherState, message: str
) -> None:
    with pytest.raises(CipherRefused, match=message):
        cipher_action(encrypt, state, REPO)


def test_generated_file_and_its_installed_copy(tmp_path: Path) -> None:
    """The commands as the host runs them, on a copy of the path under tmp (chgrp to the
    caller's group): a 64-hex-digit passphrase in pgBackRest's format, 0640; nothing printed;
    a rebuild's copy installed from stdin, 0600."""
    group = subprocess.run(["id", "-gn"], capture_output=True, text=True, check=True).stdout
    conf = tmp_path / "conf.d" / "sovereign-cipher.conf"

    def local(command: str, where: Path) -> str:
        return (
            command.replace(CIPHER_FILE, str(where))
            .replace("/etc/pgbackrest/conf.d", str(where.parent))
            .replace("-o root -g root ", "")
            .replace("chgrp postgres", f"chgrp {group.strip()}")
        )

    gen = local(generate_command(), conf)
    proc = subprocess.run(["bash", "-c", gen], capture_output=True, text=True, check=True)
    assert proc.stdout == "" and proc.stderr == ""
    assert conf.stat().st_mode & 0o777 == 0o640
    text = conf.read_text()
    assert text.startswith("[global]\n")
    passphrase = parse_conf(text)
    assert len(passphrase) == 64 and int(passphrase, 16) >= 0
    assert passphrase not in gen
    copy = tmp_path / "new" / "sovereign-cipher.conf"
    subprocess.run(["bash", "-c", local(install_command(), copy)], input=text, text=True,
                   check=True)  # fmt: skip
    assert copy.read_text() == text and copy.stat().st_mode & 0o777 == 0o600
    subprocess.run(["bash", "-c", local(own_command(), copy)], check=True)
    assert copy.stat().st_mode & 0o777 == 0o640


def test_parse_conf_never_echoes_a_value() -> None:
    assert parse_conf(f"[global]\n{OPTION}=abc123\n") == "abc123"
    with pytest.raises(ValueError) as info:
        parse_conf("[global]\nrepo1-path=secretvalue\n")
    assert "secretvalue" not in str(info.value)
