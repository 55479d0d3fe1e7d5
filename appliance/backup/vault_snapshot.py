"""Vault (OpenBao) raft snapshots on the host, run by the vault role's timer:
``python -m appliance.backup.vault_snapshot --dir /tank/backups/vault --keep 48``.

It logs in with the backup AppRole (its policy reads `sys/storage/raft/snapshot` and nothing
else; its credentials are root-only files the deploy delivered), streams a snapshot into the
directory (a temporary file, synced, then renamed), keeps the newest `--keep` and records the
outcome in the state file the agent reads. The snapshot holds Vault's storage as it is on
disk: encrypted by the barrier key, which the seal protects. Exit 0 ok, 1 failed.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import hvac
import requests

from appliance.backup.snapshot_files import expired, snapshot_name
from appliance.backup.state_file import record

STATE_FILE = Path("/var/lib/sovereign/backup/vault/state.json")
CREDENTIALS_DIR = Path("/etc/sovereign/vault/backup")
CA_CERT = Path("/etc/sovereign/vault/tls/ca.crt")
CHUNK = 1 << 20
# What Vault answers while it is starting, unsealing or electing its raft leader (a run that
# a reboot's Persistent= timer starts at boot meets it): worth waiting for, unlike a refusal.
NOT_ACTIVE_YET = (
    hvac.exceptions.InternalServerError,  # "local node not active but active cluster node …"
    hvac.exceptions.VaultDown,  # sealed
    requests.ConnectionError,  # not listening yet
)


def login_when_active(
    client: hvac.Client, role_id: str, secret_id: str, wait_s: float, pause_s: float = 2.0
) -> None:
    """Log in with the AppRole, retrying while Vault is not active yet, up to `wait_s`."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            client.auth.approle.login(role_id=role_id, secret_id=secret_id)
            return
        except NOT_ACTIVE_YET as exc:
            if time.monotonic() + pause_s > deadline:
                raise
            print(f"Vault not active yet ({type(exc).__name__}); retrying", file=sys.stderr)
            time.sleep(pause_s)


def take(client: hvac.Client, directory: Path, now: datetime) -> tuple[Path, int]:
    """Stream a snapshot into `directory`; returns the file and its size."""
    response = client.sys.take_raft_snapshot()
    response.raise_for_status()
    final = directory / snapshot_name(now)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".raft-", suffix=".partial")
    size = 0
    try:
        with os.fdopen(fd, "wb") as handle:
            for chunk in response.iter_content(CHUNK):
                handle.write(chunk)
                size += len(chunk)
            handle.flush()
            os.fsync(handle.fileno())
        if size == 0:
            raise OSError("Vault answered an empty snapshot")
        Path(tmp).replace(final)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return final, size


def prune(directory: Path, keep: int) -> list[str]:
    gone = expired([p.name for p in directory.iterdir()], keep)
    for name in gone:
        (directory / name).unlink(missing_ok=True)
    return gone


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m appliance.backup.vault_snapshot")
    parser.add_argument("--addr", default="https://127.0.0.1:8200")
    parser.add_argument("--ca-cert", type=Path, default=CA_CERT)
    parser.add_argument("--credentials", type=Path, default=CREDENTIALS_DIR)
    parser.add_argument("--dir", type=Path, required=True)
    parser.add_argument("--keep", type=int, default=48)
    parser.add_argument("--state", type=Path, default=STATE_FILE)
    parser.add_argument("--wait-active", type=float, default=300.0, metavar="SECONDS",
                        help="how long to wait for Vault to become active (at boot)")  # fmt: skip
    args = parser.parse_args(argv)
    if args.keep < 1:
        parser.error("--keep: at least 1")
    if args.wait_active < 0:
        parser.error("--wait-active: not negative")
    started = time.monotonic()
    now = datetime.now(UTC)
    entry: dict[str, Any] = {"started": now.isoformat(timespec="seconds")}
    try:
        role_id = (args.credentials / "role-id").read_text().strip()
        secret_id = (args.credentials / "secret-id").read_text().strip()
        client = hvac.Client(url=args.addr, verify=str(args.ca_cert), timeout=60)
        try:
            login_when_active(client, role_id, secret_id, args.wait_active)
            del secret_id
            path, size = take(client, args.dir, now)
            client.auth.token.revoke_self()
        finally:
            client.adapter.close()
        entry.update(ok=True, file=path.name, size=size, pruned=prune(args.dir, args.keep))
    except (OSError, hvac.exceptions.VaultError, requests.RequestException) as exc:
        # hvac's errors name the path and Vault's message, never the credentials.
        entry.update(ok=False, error=f"{type(exc).__name__}: {exc}"[:500])
    entry.update(
        finished=datetime.now(UTC).isoformat(timespec="seconds"),
        duration_s=round(time.monotonic() - started, 2),
    )
    kept = sorted(p.name for p in args.dir.glob("raft-*.snap")) if args.dir.is_dir() else []
    record(args.state, "snapshot", entry, snapshots=kept)
    if not entry["ok"]:
        print(f"raft snapshot failed: {entry['error']}", file=sys.stderr)
        return 1
    print(f"raft snapshot {entry['file']} ({entry['size']} bytes) in {entry['duration_s']} s; "
          f"{len(kept)} kept, {len(entry['pruned'])} pruned")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
