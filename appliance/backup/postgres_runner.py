"""PostgreSQL backups on the host, run by the pgbackrest role's timers as the postgres user:
``python -m appliance.backup.postgres_runner backup|restore-check|info``.

::

    … backup --type full|diff|incr      a pgBackRest backup (expiring by the retention after it)
    … restore-check [--query SQL --database DB]
                                        the latest backup and all archived WAL restored into a
                                        scratch cluster on another port, started, queried, removed
    … info                              refresh the state file from `pgbackrest info`

Every run records its outcome in the state file (default
/var/lib/sovereign/backup/postgres/state.json) with pgBackRest's view of the stanza (latest
backup, sizes, WAL range), which the agent reports. Exit 0 ok, 1 failed (the reason on stderr).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from appliance.backup.pgbackrest_info import InfoError, StanzaInfo, parse_info
from appliance.backup.state_file import record
from appliance.command import HostCommandError, run

STATE_FILE = Path("/var/lib/sovereign/backup/postgres/state.json")
BACKUP_TIMEOUT_S = 6 * 3600.0
RESTORE_TIMEOUT_S = 3600.0
QUICK_S = 120.0
# The scratch cluster's own configuration: nothing from the live one (its conf.d and pg_hba
# stay in /etc/postgresql), no network, no archiving (it must never push WAL into the
# live stanza's archive), no hot standby (so it needs no live-equal max_connections).
SCRATCH_CONF = """# Written by appliance.backup.postgres_runner: a restore check, removed after it.
port = {port}
listen_addresses = ''
unix_socket_directories = '{socket}'
archive_mode = off
hot_standby = off
jit = off
shared_buffers = 32MB
ssl = off
logging_collector = off
"""


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def stanza_info(stanza: str) -> StanzaInfo | None:
    result = run(["pgbackrest", f"--stanza={stanza}", "--output=json", "info"], QUICK_S)
    return parse_info(result.stdout, stanza)


def _summary(stanza: str) -> dict[str, Any]:
    try:
        info = stanza_info(stanza)
    except (HostCommandError, InfoError) as exc:
        return {"stanza": stanza, "error": str(exc)}
    return info.summary() if info else {"stanza": stanza, "error": "unknown stanza"}


def backup(stanza: str, kind: str, state: Path) -> int:
    started = time.monotonic()
    entry: dict[str, Any] = {"type": kind, "started": now()}
    try:
        run(["pgbackrest", f"--stanza={stanza}", f"--type={kind}", "backup"], BACKUP_TIMEOUT_S)
        entry["ok"] = True
    except HostCommandError as exc:
        entry.update(ok=False, error=str(exc))
    entry.update(finished=now(), duration_s=round(time.monotonic() - started, 1))
    info = _summary(stanza)
    if entry["ok"] and info.get("latest"):
        entry["label"] = info["latest"]["label"]
        entry["type"] = info["latest"]["type"]  # pgBackRest makes a full of a first incr/diff
    record(state, "backup", entry, info=info)
    if not entry["ok"]:
        print(f"backup failed: {entry['error']}", file=sys.stderr)
        return 1
    print(f"backup {entry.get('label')} ({entry['type']}) in {entry['duration_s']} s")
    return 0


def _psql(bin_dir: Path, socket: Path, port: int, database: str, sql: str) -> str:
    argv = [str(bin_dir / "psql"), "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1",
            "-h", str(socket), "-p", str(port), "-d", database, "-c", sql]  # fmt: skip
    return run(argv, QUICK_S).stdout.strip()


def _wait_recovered(bin_dir: Path, socket: Path, port: int, deadline: float) -> None:
    """Until the scratch cluster has replayed the archive and promoted itself: with hot
    standby off, pg_ctl -w returns once recovery starts and connections wait for its end."""
    while True:
        try:
            if _psql(bin_dir, socket, port, "postgres", "select pg_is_in_recovery()") == "f":
                return
            why = "still in recovery"
        except HostCommandError as exc:
            why = str(exc)
        if time.monotonic() > deadline:
            raise HostCommandError(f"the restored cluster did not finish recovery: {why}")
        time.sleep(1)


def restore_check(
    stanza: str,
    scratch: Path,
    port: int,
    bin_dir: Path,
    state: Path,
    query: str | None,
    database: str,
) -> int:
    """Restore into `scratch`, recover to the end of the archive, query, remove."""
    started = time.monotonic()
    entry: dict[str, Any] = {"started": now(), "scratch": str(scratch), "port": port}
    pg_ctl = [str(bin_dir / "pg_ctl"), "-D", str(scratch)]
    running = False
    try:
        info = stanza_info(stanza)
        if info is None or info.latest is None:
            raise HostCommandError(f"stanza {stanza}: no backup to restore")
        entry["label"] = info.latest.label
        shutil.rmtree(scratch, ignore_errors=True)  # a check that died before
        scratch.mkdir(mode=0o700, parents=True)
        run(["pgbackrest", f"--stanza={stanza}", f"--pg1-path={scratch}",
             "--archive-mode=off", "restore"], RESTORE_TIMEOUT_S)  # fmt: skip
        (scratch / "postgresql.conf").write_text(SCRATCH_CONF.format(port=port, socket=scratch))
        (scratch / "pg_hba.conf").write_text("local all postgres peer\n")
        (scratch / "pg_ident.conf").write_text("")
        running = True
        run([*pg_ctl, "-l", str(scratch / "startup.log"), "-w", "-t",
             str(int(RESTORE_TIMEOUT_S)), "start"], RESTORE_TIMEOUT_S + 30)  # fmt: skip
        _wait_recovered(bin_dir, scratch, port, time.monotonic() + RESTORE_TIMEOUT_S)
        entry["databases"] = int(
            _psql(bin_dir, scratch, port, "postgres", "select count(*) from pg_database")
        )
        if query:
            entry["query"] = _psql(bin_dir, scratch, port, database, query)
        entry["ok"] = True
    except (HostCommandError, InfoError, OSError) as exc:
        entry.update(ok=False, error=str(exc))
    finally:
        if running:
            run([*pg_ctl, "-m", "immediate", "stop"], QUICK_S, check=False)
        shutil.rmtree(scratch, ignore_errors=True)
    entry.update(finished=now(), duration_s=round(time.monotonic() - started, 1))
    record(state, "restore_check", entry, info=_summary(stanza))
    if not entry["ok"]:
        print(f"restore check failed: {entry['error']}", file=sys.stderr)
        return 1
    print(f"restore check of {entry['label']}: ok in {entry['duration_s']} s, "
          f"{entry['databases']} databases")  # fmt: skip
    if query:
        print(f"query: {entry['query']}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m appliance.backup.postgres_runner")
    parser.add_argument("--stanza", default="main")
    parser.add_argument("--state", type=Path, default=STATE_FILE)
    sub = parser.add_subparsers(dest="command", required=True)
    take = sub.add_parser("backup", help="a pgBackRest backup")
    take.add_argument("--type", choices=("full", "diff", "incr"), default="incr")
    check = sub.add_parser("restore-check", help="restore the latest backup into a scratch cluster")
    check.add_argument("--scratch", type=Path, required=True)
    check.add_argument("--port", type=int, required=True)
    check.add_argument("--bin-dir", type=Path, required=True, help="PostgreSQL's binaries")
    check.add_argument("--query", help="SQL run in the restored cluster, its result printed")
    check.add_argument("--database", default="postgres")
    sub.add_parser("info", help="refresh the state file from pgbackrest info")
    args = parser.parse_args(argv)
    if args.command == "backup":
        return backup(args.stanza, args.type, args.state)
    if args.command == "restore-check":
        return restore_check(
            args.stanza, args.scratch, args.port, args.bin_dir, args.state, args.query,
            args.database,
        )  # fmt: skip
    info = _summary(args.stanza)
    record(args.state, "info", {"ok": "error" not in info, "finished": now()}, info=info)
    print(info)
    return 0 if "error" not in info else 1


if __name__ == "__main__":
    sys.exit(main())
