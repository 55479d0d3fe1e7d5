"""The raft snapshot runner (appliance/backup/vault_snapshot.py) against a real OpenBao
configured as code: the backup AppRole takes snapshots and may do nothing else, the runner
keeps the newest N and records its outcome, and a snapshot restored into a second server with
the same static seal key unseals by itself and holds the secrets."""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path

import hvac
import pytest
from hvac.exceptions import Forbidden

from appliance.backup import vault_snapshot
from roles.vault import client as vault_client
from roles.vault.desired import BACKUP_ROLE, desired, plan
from tests.unit.vault.conftest import BaoServer

KV = "sovereign"


def configured(server: BaoServer) -> hvac.Client:
    server.start()
    vault = server.client()
    init = vault_client.initialise(vault, automatic_unseal=True, shares=1, threshold=1)
    vault_client.wait_unsealed(vault, 20)
    vault.token = init["root_token"]
    want = desired(KV, "transit")
    vault_client.apply(vault, plan(want, vault_client.read_state(vault, want)))
    return vault


def backup_files(root: hvac.Client, tmp_path: Path) -> tuple[Path, str, Path, Path]:
    """What the deploy gives the runner: the backup AppRole's credentials in a folder (and the
    secret-id), an empty snapshot folder and where the state file goes."""
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    secret_id, _ = vault_client.new_secret_id(root, BACKUP_ROLE)
    (credentials / "role-id").write_text(vault_client.role_id(root, BACKUP_ROLE) + "\n")
    (credentials / "secret-id").write_text(secret_id + "\n")
    snapshots, state = tmp_path / "snapshots", tmp_path / "state.json"
    snapshots.mkdir()
    return credentials, secret_id, snapshots, state


def test_snapshots_taken_kept_and_restored(
    make_server: Callable[..., BaoServer], tmp_path: Path
) -> None:
    first = make_server("first")
    root = configured(first)
    vault_client.put_secret(root, KV, "agent/probe", {"value": "before-the-snapshot"})
    credentials, secret_id, snapshots, state = backup_files(root, tmp_path)
    args = [
        *("--addr", first.url, "--ca-cert", str(first.tls.ca_cert)),
        *("--credentials", str(credentials), "--dir", str(snapshots)),
        *("--keep", "2", "--state", str(state)),
    ]
    (snapshots / "raft-20200101T000000Z.snap").write_bytes(b"old")
    (snapshots / "notes.txt").write_text("not ours")
    for _ in range(2):
        assert vault_snapshot.main(args) == 0
        time.sleep(1.1)  # names have a second's resolution: a second run within it replaces
    kept = sorted(p.name for p in snapshots.glob("raft-*.snap"))
    assert len(kept) == 2 and "raft-20200101T000000Z.snap" not in kept
    assert (snapshots / "notes.txt").exists()
    recorded = json.loads(state.read_text())
    assert recorded["last_snapshot_success"]["file"] == kept[-1]
    assert recorded["snapshots"] == kept
    assert secret_id not in state.read_text()

    # The backup AppRole reads a snapshot and nothing else.
    backup = first.client()
    backup.auth.approle.login(role_id=vault_client.role_id(root, BACKUP_ROLE), secret_id=secret_id)
    with pytest.raises(Forbidden):
        backup.secrets.kv.v2.read_secret_version(
            "agent/probe", mount_point=KV, raise_on_deleted_version=True
        )
    with pytest.raises(Forbidden):
        backup.sys.create_or_update_policy("more", 'path "*" { capabilities = ["read"] }')

    # A wrong secret-id: a failed run, recorded, the last success kept.
    (credentials / "secret-id").write_text("not-the-secret-id\n")
    assert vault_snapshot.main(args) == 1
    failed = json.loads(state.read_text())
    assert not failed["last_snapshot"]["ok"] and failed["last_snapshot_success"]["file"] == kept[-1]

    # Restored into another server with the same seal key (the first one gone, as a lost
    # host's): unsealed, the secret is there.
    first.stop(graceful=False)
    second_root = tmp_path / "second"
    second_root.mkdir()
    shutil.copy(first.root / "seal.key", second_root / "seal.key")
    second = make_server("second")
    assert second.root == second_root
    # The audit device is declared in server.hcl and recorded in the data: a restored server
    # stays standby unless its file_path is the one in the snapshot (a rebuilt host's is: the
    # role's fixed /var/log/vault/audit.log).
    second.config.write_text(
        second.config.read_text().replace(str(second.audit_log), str(first.audit_log))
    )
    other = configured(second)
    other.sys.force_restore_raft_snapshot((snapshots / kept[-1]).read_bytes())
    vault_client.wait_unsealed(other, 30)
    restored = second.client(root.token)  # the first server's root token, in the restored data
    value = restored.secrets.kv.v2.read_secret_version(
        "agent/probe", mount_point=KV, raise_on_deleted_version=True
    )["data"]["data"]["value"]
    assert value == "before-the-snapshot"


def test_a_run_at_boot_waits_for_vault_to_become_active(
    make_server: Callable[..., BaoServer], tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """A reboot's missed timer starts the runner at boot, before Vault listens, unseals and
    elects its raft leader: the run waits for it instead of failing (and leaving the backups
    degraded until the next hour's run)."""
    server = make_server("boot")
    root = configured(server)
    credentials, _, snapshots, state = backup_files(root, tmp_path)
    server.stop()
    args = [
        *("--addr", server.url, "--ca-cert", str(server.tls.ca_cert)),
        *("--credentials", str(credentials), "--dir", str(snapshots)),
        *("--state", str(state), "--wait-active", "60"),
    ]
    outcome: list[int] = []
    runner = threading.Thread(target=lambda: outcome.append(vault_snapshot.main(args)))
    runner.start()
    time.sleep(3)  # the runner meets a Vault that is down
    server.start()  # the static seal unseals it by itself
    runner.join(90)
    assert outcome == [0], state.read_text()
    assert "Vault not active yet" in capfd.readouterr().err
    assert json.loads(state.read_text())["last_snapshot"]["ok"]

    # Down for longer than the wait: a failed run, recorded, in about the wait.
    server.stop()
    started = time.monotonic()
    assert vault_snapshot.main([*args[:-1], "3"]) == 1
    assert time.monotonic() - started < 15
    assert "ConnectionError" in json.loads(state.read_text())["last_snapshot"]["error"]
