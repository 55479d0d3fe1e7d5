"""Backups on a real lab host: PostgreSQL rows committed after the last backup come back from a
restore (WAL archived within archive_timeout: the RPO evidence), the daily restore check
passes, a raft snapshot restores into a scratch OpenBao with the secrets it held, and no
password or key appears in clear in the backups or the journal."""

from __future__ import annotations

import hashlib
import json
import secrets
import shlex
import subprocess
import time
from typing import Any

import pytest

from roles.pgbackrest.cipher import CIPHER_COPY, CIPHER_FILE, OPTION
from sovereign.lab.hosts import ssh_argv
from sovereign.lab.state import LabPaths
from tests.lab.conftest import Deploys, put_secret

PYTHON = "/opt/sovereign/agent/bin/python"
PG_BIN = "/usr/lib/postgresql/15/bin"
BACKUP = "sovereign-pgbackrest-backup@{kind}.service"
RESTORE_CHECK = "sovereign-pgbackrest-restore-check.service"
VAULT_SNAPSHOT = "sovereign-vault-snapshot.service"
PG_STATE = "/var/lib/sovereign/backup/postgres/state.json"
ARCHIVE_TIMEOUT_S = 60  # the documented default
SCRATCH_BAO = "/root/scratch-bao"
SCRATCH_PORT = 8290
OUR_DEPLOYS = ("pgBackRest repository", "PostgreSQL", "Vault")


@pytest.fixture(scope="module")
def deployed(lab: str, deploys: Deploys) -> str:
    assert deploys.first.returncode == 0, deploys.first.failure_report()
    # These roles' operations change nothing the second time (the whole site's idempotency is
    # test_site's: the agent's wheelhouse changes whenever its code does, between the deploys).
    ours = [c for c in deploys.second.changed if str(c[1]).startswith(OUR_DEPLOYS)]
    assert ours == [], deploys.second.failure_report()
    return lab


def ssh_stdin(lab: str, command: str, data: str) -> subprocess.CompletedProcess[str]:
    """A command on the lab host with `data` on its stdin (secrets never on a command line)."""
    return subprocess.run(
        ssh_argv(LabPaths(lab), f"{lab}-1", command),
        input=data, capture_output=True, text=True, check=False, timeout=600,
    )  # fmt: skip


def ssh(lab: str, command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """A command on the lab host, over the lab's SSH configuration directly."""
    proc = ssh_stdin(lab, command, "")
    if check and proc.returncode != 0:
        pytest.fail(f"{command!r} failed on {lab}-1:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return proc


def psql(lab: str, sql: str) -> str:
    return ssh(
        lab, f"cd / && runuser -u postgres -- psql -X -A -t -v ON_ERROR_STOP=1 -d postgres "
        f"-c {shlex.quote(sql)}",
    ).stdout.strip()  # fmt: skip


def pg_state(lab: str) -> dict[str, Any]:
    state: dict[str, Any] = json.loads(ssh(lab, f"cat {PG_STATE}").stdout)
    return state


def test_rows_committed_after_the_backup_are_restored(deployed: str) -> None:
    lab = deployed
    psql(lab, "DROP TABLE IF EXISTS rpo_probe; CREATE TABLE rpo_probe (id int, at timestamptz)")
    psql(lab, "INSERT INTO rpo_probe SELECT g, now() FROM generate_series(1, 100) g")
    ssh(lab, f"systemctl start {BACKUP.format(kind='incr')}")  # oneshot: returns when done
    state = pg_state(lab)
    assert state["last_backup"]["ok"], state["last_backup"]
    backup_label = state["last_backup"]["label"]
    # Committed after the backup: only the WAL archive has these.
    psql(lab, "INSERT INTO rpo_probe SELECT g, now() FROM generate_series(101, 150) g")
    committed = float(psql(lab, "SELECT extract(epoch FROM now())"))
    lsn = psql(lab, "SELECT pg_walfile_name(pg_current_wal_lsn())")
    deadline = time.monotonic() + ARCHIVE_TIMEOUT_S + 60
    while True:  # no pg_switch_wal: archive_timeout alone must get the segment out
        archived = psql(lab, "SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver")
        if archived and archived[:24] >= lsn:
            break
        assert time.monotonic() < deadline, f"{lsn} not archived within archive_timeout + 60 s"
        time.sleep(2)
    waited = time.time() - committed
    print(f"WAL segment {lsn} archived {waited:.0f} s after the commit "
          f"(archive_timeout {ARCHIVE_TIMEOUT_S} s)")  # fmt: skip
    query = shlex.quote("SELECT count(*), max(id) FROM rpo_probe")
    out = ssh(
        lab,
        f"cd / && runuser -u postgres -- {PYTHON} -m appliance.backup.postgres_runner "
        f"--state /var/lib/postgresql/rpo-check.json restore-check "
        f"--scratch /var/lib/postgresql/rpo-check --port 5498 --bin-dir {PG_BIN} "
        f"--query {query}",
    ).stdout
    print(out)
    assert f"restore check of {backup_label}: ok" in out
    assert "query: 150|150" in out
    assert ssh(lab, "test -e /var/lib/postgresql/rpo-check", check=False).returncode != 0


def test_the_scheduled_restore_check_succeeds(deployed: str) -> None:
    ssh(deployed, f"systemctl start {RESTORE_CHECK}")
    check = pg_state(deployed)["last_restore_check"]
    assert check["ok"], check
    assert check["databases"] >= 3  # postgres, template0, template1 at least
    print(f"restore check of {check['label']}: {check['duration_s']} s")


SCRATCH_HCL = f"""
storage "raft" {{
  path = "{SCRATCH_BAO}/data"
  node_id = "scratch"
}}
listener "tcp" {{
  address = "127.0.0.1:{SCRATCH_PORT}"
  tls_disable = true
}}
seal "static" {{
  current_key_id = "sovereign-1"
  current_key = "file:///etc/sovereign/vault/seal.key"
}}
api_addr = "http://127.0.0.1:{SCRATCH_PORT}"
cluster_addr = "https://127.0.0.1:{SCRATCH_PORT + 1}"
"""
BAO = f"BAO_ADDR=http://127.0.0.1:{SCRATCH_PORT} /usr/local/bin/bao"


@pytest.fixture
def scratch_bao(deployed: str) -> Any:
    """A throw-away OpenBao on the host (loopback, plain HTTP), its static seal the live
    one's key: a restored snapshot unseals with it, as on a rebuilt host."""
    lab = deployed
    ssh(lab, f"rm -rf {SCRATCH_BAO} && install -d -m 700 {SCRATCH_BAO}/data && "
             f"printf '%s' {shlex.quote(SCRATCH_HCL)} > {SCRATCH_BAO}/server.hcl && "
             f"systemd-run --unit scratch-bao /usr/local/bin/bao server "
             f"-config={SCRATCH_BAO}/server.hcl")  # fmt: skip
    yield lab
    ssh(lab, f"systemctl stop scratch-bao; rm -rf {SCRATCH_BAO}", check=False)


def bao_status(lab: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while True:
        out = ssh(lab, f"{BAO} status -format=json", check=False).stdout
        if out.strip().startswith("{"):
            status: dict[str, Any] = json.loads(out)
            return status
        assert time.monotonic() < deadline, "scratch OpenBao did not answer"
        time.sleep(1)


def test_raft_snapshot_restores_into_a_scratch_openbao(scratch_bao: str) -> None:
    lab = scratch_bao
    value = secrets.token_urlsafe(24)
    put_secret(lab, "agent/backup-probe", {"value": value})
    ssh(lab, f"systemctl start {VAULT_SNAPSHOT}")
    snapshot = ssh(lab, "ls -1 /tank/backups/vault/raft-*.snap | tail -n 1").stdout.strip()
    assert snapshot
    assert not bao_status(lab)["initialized"]
    # The scratch server's own root token stays in a root-only file on the host.
    ssh(lab, f"{BAO} operator init -format=json -recovery-shares=1 -recovery-threshold=1 "
             f"> {SCRATCH_BAO}/init.json && "
             f"BAO_TOKEN=$(jq -r .root_token {SCRATCH_BAO}/init.json) "
             f"{BAO} operator raft snapshot restore -force {snapshot}")  # fmt: skip
    deadline = time.monotonic() + 60
    while bao_status(lab).get("sealed", True):
        assert time.monotonic() < deadline, "the restored OpenBao did not unseal"
        time.sleep(1)
    # The live appliance's break-glass AppRole, opened with the operator's identity: it exists
    # in the restored data, so logging in proves the restore is the live Vault's.
    from roles.vault.keys import load_init_keys

    paths = LabPaths(lab)
    admin = load_init_keys(
        paths.vault_dir(f"{lab}-1") / "admin-approle.json.age", paths.operator_age_key
    )
    login = json.dumps({"role_id": admin["role_id"], "secret_id": admin["secret_id"]})
    proc = ssh_stdin(
        lab,
        f"curl -sSf --data @- http://127.0.0.1:{SCRATCH_PORT}/v1/auth/approle/login | "
        f"jq -r .auth.client_token > {SCRATCH_BAO}/token && "
        f'curl -sSf -H "X-Vault-Token: $(cat {SCRATCH_BAO}/token)" '
        f"http://127.0.0.1:{SCRATCH_PORT}/v1/sovereign/data/agent/backup-probe "
        "| jq -r .data.data.value | sha256sum",
        login,
    )
    assert proc.returncode == 0, proc.stderr[-500:]
    assert proc.stdout.split()[0] == hashlib.sha256(f"{value}\n".encode()).hexdigest()


def test_no_password_in_clear_in_the_backups_or_the_journal(deployed: str) -> None:
    """A PostgreSQL role with a password generated on the host, backed up and archived, and
    the AppRole secret-ids Vault's snapshot holds: none is in any file under /tank/backups or
    in the journal (checked on the host, only counts come back)."""
    lab = deployed
    ssh(lab, "(umask 077 && head -c 30 /dev/urandom | base64 | tr -dc A-Za-z0-9 > /root/pw) && "
             "{ printf '%s' '\\set pw '; cat /root/pw; echo; "
             "echo \"DROP ROLE IF EXISTS backup_probe; CREATE ROLE backup_probe LOGIN "
             "PASSWORD :'pw';\"; } | (cd / && runuser -u postgres -- psql -X -q "
             "-v ON_ERROR_STOP=1 -d postgres)")  # fmt: skip
    ssh(lab, f"systemctl start {BACKUP.format(kind='incr')} {VAULT_SNAPSHOT}")
    ssh(lab, f"(umask 077 && sed -n 's/^{OPTION}=//p' {CIPHER_FILE} > /root/cipher-pass)")
    secret_files = ["/root/pw", "/etc/sovereign/vault/backup/secret-id",
                    "/etc/sovereign/vault/agent/secret-id", "/root/cipher-pass"]  # fmt: skip
    for secret in secret_files:
        hits = ssh(lab, f"grep -rlaF -f {secret} /tank/backups | wc -l; "
                        f"journalctl --no-pager -o cat | grep -caF -f {secret}",
                   check=False).stdout.split()  # fmt: skip
        assert hits[:2] == ["0", "0"], (
            f"{secret}: in clear in {hits[0]} backup file(s), {hits[1:]} journal lines"
        )
    ssh(lab, "rm -f /root/pw /root/cipher-pass; cd / && runuser -u postgres -- psql -X -q "
             "-d postgres -c 'DROP ROLE IF EXISTS backup_probe'")  # fmt: skip


def test_the_repository_is_encrypted(deployed: str, deploys: Deploys) -> None:
    """pgBackRest says aes-256-cbc; every file of the repository is ciphertext (OpenSSL's
    salted format) and a row's value written after the backup is in none; the passphrase is
    in pgBackRest's conf.d (root:postgres 0640), in no deploy output, and its operator copy
    opens to it."""
    lab = deployed
    canary = f"canary-{secrets.token_hex(16)}"
    psql(lab, "DROP TABLE IF EXISTS cipher_probe; CREATE TABLE cipher_probe (v text)")
    psql(lab, f"INSERT INTO cipher_probe SELECT '{canary}' FROM generate_series(1, 200)")  # noqa: S608 - hex
    ssh(lab, f"systemctl start {BACKUP.format(kind='incr')}")
    psql(lab, "SELECT pg_switch_wal()")
    info = ssh(lab, "cd / && runuser -u postgres -- pgbackrest info").stdout
    print(info)
    assert "cipher: aes-256-cbc" in info
    repo = "/tank/backups/pgbackrest"
    heads = ssh(lab, f"find {repo} -type f -size +0 -exec head -c 8 {{}} \\; -exec echo \\; "
                     "| sort | uniq -c").stdout  # fmt: skip
    print(f"first bytes of the repository's files:\n{heads}")
    counted = [line.split(None, 1) for line in heads.strip().splitlines()]
    assert counted and all(head.startswith("Salted__") for _, head in counted), heads
    hits = ssh(lab, f"grep -rlaF {canary} {repo} | wc -l").stdout.strip()
    assert hits == "0", f"{canary} in clear in {hits} repository file(s)"
    mode = ssh(lab, f"stat -c '%U %G %a' {CIPHER_FILE}").stdout.strip()
    assert mode == "root postgres 640"
    env = ssh(lab, f"cat {CIPHER_FILE}").stdout
    passphrase = env.partition(f"{OPTION}=")[2].strip()
    assert len(passphrase) == 64
    for run in (deploys.first, deploys.second):
        assert passphrase not in run.output
    import pyrage

    copy = subprocess.run(
        ssh_argv(LabPaths(lab), f"{lab}-1", f"cat /tank/backups/keys/{CIPHER_COPY}"),
        capture_output=True, check=True, timeout=60,
    ).stdout  # fmt: skip
    identity = pyrage.x25519.Identity.from_str(
        next(line for line in LabPaths(lab).operator_age_key.read_text().splitlines()
             if line.startswith("AGE-SECRET-KEY-"))
    )  # fmt: skip
    assert pyrage.decrypt(copy, [identity]).decode() == env
    psql(lab, "DROP TABLE cipher_probe")
