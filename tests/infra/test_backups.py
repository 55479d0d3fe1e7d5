"""Backups on a deployed host: PostgreSQL with pgBackRest (WAL archived at least every
archive_timeout, a repository on tank/backups owned by postgres, a stanza with a backup from
the first deploy on, the backup and restore-check timers waiting), Vault's raft snapshots on
their timer, and the seal key and controller material only ever age-encrypted.

The defaults are the documented ones (roles/pgbackrest/settings.py, roles/vault/settings.py
`backup`), written down here on purpose."""

from __future__ import annotations

import json
import shlex
from typing import Any

import pytest

from tests.infra.conftest import exposure
from tests.infra.expected import EXPOSURE_LIMIT, HostData, section

PG_TIMERS = (
    "sovereign-pgbackrest-full.timer",
    "sovereign-pgbackrest-diff.timer",
    "sovereign-pgbackrest-incr.timer",
    "sovereign-pgbackrest-restore-check.timer",
)
BACKUP_SERVICE = "sovereign-pgbackrest-backup@full.service"
RESTORE_CHECK = "sovereign-pgbackrest-restore-check.service"
VAULT_SERVICE = "sovereign-vault-snapshot.service"
VAULT_TIMER = "sovereign-vault-snapshot.timer"
PG_STATE = "/var/lib/sovereign/backup/postgres/state.json"
VAULT_STATE = "/var/lib/sovereign/backup/vault/state.json"
BACKUP_CREDENTIALS = "/etc/sovereign/vault/backup"
SEAL_KEY = "/etc/sovereign/vault/seal.key"
AGENT_PYTHON = "/opt/sovereign/agent/bin/python"
AGE_HEADER = b"age-encryption.org/v1"

pytestmark = pytest.mark.journal(BACKUP_SERVICE)


def pgbackrest(data: HostData) -> dict[str, Any]:
    cfg = section(data, "pgbackrest")
    return {
        "enabled": cfg.get("enabled", True) is not False,
        "stanza": cfg.get("stanza", "main"),
        "repo_path": cfg.get("repo_path", "/tank/backups/pgbackrest"),
        "archive_timeout": int(cfg.get("archive_timeout", 60)),
    }


def vault_backup(data: HostData) -> dict[str, Any] | None:
    vault = data.get("vault")
    if not isinstance(vault, dict):
        return None
    cfg = section(vault, "backup")
    if cfg.get("enabled", True) is False:
        return None
    return {
        "dir": cfg.get("dir", "/tank/backups/vault"),
        "keys_dir": cfg.get("keys_dir", "/tank/backups/keys"),
        "seal": vault.get("seal", "static"),
        "recipients": vault.get("operator_age_recipients") or [],
    }


@pytest.fixture(scope="module")
def pg_backup(host_data: HostData) -> dict[str, Any]:
    cfg = pgbackrest(host_data)
    if not cfg["enabled"]:
        pytest.skip("pgbackrest.enabled is false")
    return cfg


@pytest.fixture(scope="module")
def vault_cfg(host_data: HostData) -> dict[str, Any]:
    cfg = vault_backup(host_data)
    if cfg is None:
        pytest.skip("no Vault, or vault.backup.enabled is false")
    return cfg


# An encrypted repository's passphrase (roles/pgbackrest/cipher.py).
CIPHER_FILE = "/etc/pgbackrest/conf.d/sovereign-cipher.conf"


def as_postgres(host: Any, command: str) -> Any:
    return host.run(f"cd / && runuser -u postgres -- {command}")


@pytest.mark.parametrize("timer", PG_TIMERS)
def test_backup_timers_enabled_and_waiting(
    host: Any, pg_backup: dict[str, Any], timer: str
) -> None:
    unit = host.service(timer)
    assert unit.is_enabled and unit.is_running


def test_repository_on_tank_backups_owned_by_postgres(host: Any, pg_backup: dict[str, Any]) -> None:
    repo = host.file(pg_backup["repo_path"])
    assert repo.is_directory
    assert (repo.user, repo.group, repo.mode) == ("postgres", "postgres", 0o750)
    assert host.check_output(f"findmnt -n -o TARGET -T {pg_backup['repo_path']}") == "/tank/backups"


def test_postgresql_archives_wal_at_least_every_archive_timeout(
    host: Any, pg_backup: dict[str, Any]
) -> None:
    def show(name: str) -> str:
        out = as_postgres(host, f"psql -X -A -t -d postgres -c {shlex.quote('SHOW ' + name)}")
        assert out.rc == 0, out.stderr
        return str(out.stdout.strip())

    assert show("archive_mode") == "on"
    assert show("archive_command") == f"pgbackrest --stanza={pg_backup['stanza']} archive-push %p"
    timeout = show("archive_timeout")
    seconds = int(timeout[:-3]) * 60 if timeout.endswith("min") else int(timeout.rstrip("s"))
    assert seconds == pg_backup["archive_timeout"] <= 300


def test_stanza_has_a_backup(host: Any, pg_backup: dict[str, Any]) -> None:
    out = as_postgres(host, f"pgbackrest --stanza={pg_backup['stanza']} --output=json info")
    assert out.rc == 0, out.stderr
    (stanza,) = json.loads(out.stdout)
    assert stanza["status"]["code"] == 0, stanza["status"]
    assert [b for b in stanza["backup"] if not b.get("error")], "no backup in the repository"


def test_an_encrypted_repository_has_its_passphrase_for_postgres_only(
    host: Any, pg_backup: dict[str, Any]
) -> None:
    env = host.file(CIPHER_FILE)
    if not env.exists:
        pytest.skip("the repository is not encrypted (no Vault with operator recipients)")
    assert (env.user, env.group, env.mode) == ("root", "postgres", 0o640)
    out = as_postgres(host, f"pgbackrest --stanza={pg_backup['stanza']} --output=json info")
    assert out.rc == 0, out.stderr
    (stanza,) = json.loads(out.stdout)
    assert stanza["cipher"] == "aes-256-cbc"
    conf = host.file("/etc/pgbackrest.conf").content_string
    assert "repo1-cipher-type=aes-256-cbc" in conf and "cipher-pass" not in conf


def test_archiving_works(host: Any, pg_backup: dict[str, Any]) -> None:
    """pgbackrest check switches a WAL segment and waits for it in the repository."""
    out = as_postgres(host, f"pgbackrest --stanza={pg_backup['stanza']} check")
    assert out.rc == 0, out.stderr + out.stdout


def test_state_file_records_the_last_backup(host: Any, pg_backup: dict[str, Any]) -> None:
    state = json.loads(host.file(PG_STATE).content_string)
    assert state["last_backup_success"]["ok"]
    assert state["info"]["latest"]["label"]


@pytest.mark.parametrize("unit", [BACKUP_SERVICE, RESTORE_CHECK, VAULT_SERVICE])
def test_backup_units_are_hardened(host: Any, host_data: HostData, unit: str) -> None:
    if unit == VAULT_SERVICE and vault_backup(host_data) is None:
        pytest.skip("no Vault backups")
    assert exposure(host, unit) <= EXPOSURE_LIMIT


def test_vault_snapshot_timer_and_a_snapshot(host: Any, vault_cfg: dict[str, Any]) -> None:
    timer = host.service(VAULT_TIMER)
    assert timer.is_enabled and timer.is_running
    directory = host.file(vault_cfg["dir"])
    assert (directory.user, directory.mode) == ("root", 0o700)
    names = host.check_output(f"ls -1 {vault_cfg['dir']}").split()
    snaps = [n for n in names if n.startswith("raft-") and n.endswith(".snap")]
    assert snaps, f"no raft snapshot in {vault_cfg['dir']}"
    newest = host.file(f"{vault_cfg['dir']}/{max(snaps)}")
    assert (newest.user, newest.mode) == ("root", 0o600) and newest.size > 0
    state = json.loads(host.file(VAULT_STATE).content_string)
    assert state["last_snapshot_success"]["file"] in snaps


def test_backup_approle_credentials_root_only(host: Any, vault_cfg: dict[str, Any]) -> None:
    for name in ("role-id", "secret-id"):
        item = host.file(f"{BACKUP_CREDENTIALS}/{name}")
        assert (item.user, item.group, item.mode) == ("root", "root", 0o600)


def test_keys_backed_up_encrypted_only(host: Any, vault_cfg: dict[str, Any]) -> None:
    if not vault_cfg["recipients"]:
        pytest.skip("no operator_age_recipients: nothing is backed up")
    names = ["controller.tar.age"] + (["seal.key.age"] if vault_cfg["seal"] == "static" else [])
    for name in names:
        copy = host.file(f"{vault_cfg['keys_dir']}/{name}")
        assert copy.mode == 0o600
        assert copy.content[: len(AGE_HEADER)] == AGE_HEADER, f"{name} is not age-encrypted"


# Whether a secret's bytes appear in any file under a directory: printed as a count, never
# the secret (the script runs on the host with the agent's Python).
FIND_SECRET = """
import os, sys
secret = open(sys.argv[1], 'rb').read().strip()
assert len(secret) >= 16
hits = 0
for root, _, files in os.walk(sys.argv[2]):
    for name in files:
        with open(os.path.join(root, name), 'rb') as fh:
            hits += secret in fh.read()
print(hits)
"""


@pytest.mark.parametrize("secret", [SEAL_KEY, f"{BACKUP_CREDENTIALS}/secret-id"])
def test_no_secret_in_clear_in_the_backups(
    host: Any, vault_cfg: dict[str, Any], secret: str
) -> None:
    if not host.file(secret).exists:
        pytest.skip(f"{secret} does not exist on this host")
    script = shlex.quote(FIND_SECRET)
    out = host.run(f"{AGENT_PYTHON} -c {script} {secret} /tank/backups")
    assert out.rc == 0, out.stderr[-300:]
    assert out.stdout.strip() == "0", f"{secret} found in clear under /tank/backups"
