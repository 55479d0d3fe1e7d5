"""Sovereign Sync against its anchor, side by side in one run on the same server: encrypt and
upload one file (1 GiB by default) with the agent's sync worker (age, chunked upload v2, then
verified by download and hash) and with Debian's rclone (a crypt remote over WebDAV, vendor
nextcloud: one PUT, no verification), to the Nextcloud stand-in (tests/standins/nextcloud_dav.py,
NOT Nextcloud) in a process of its own. Each side runs in its own process: its wall time, its
peak RSS (wait4) and, for the worker, its phases (the server's assembly of the chunks, the
MOVE, timed apart). Both sides see the same storage (``--dir``: a disk, or tmpfs such as
/dev/shm): the file is written and synced first, and the page cache's dirty data is written
back (``sync``) before each side, so neither pays for the other's write-back; the order of the
two alternates from run to run. Figures are indicative on a shared machine.

    .venv/bin/python bench/sync.py [--size-mib 1024] [--runs 3] [--chunk-mib 10] [--dir /dev/shm]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchlib import ROOT, free_port, print_header

from appliance.sync import crypto
from appliance.sync.settings import MIB


def worker() -> None:
    """The measured side: one SyncService run to the end of its jobs, phases timed."""
    from appliance.database.connect import open_sqlite
    from appliance.sync.remote import Remote
    from appliance.sync.service import SyncService
    from appliance.sync.settings import SyncSettings
    from appliance.sync.store import SyncStore

    phases: dict[str, float] = {"start": time.monotonic()}

    class TimedStore(SyncStore):
        def set(self, document_id: int, now: float, **values: Any) -> None:
            status = values.get("status")
            if status is not None:
                phases.setdefault(str(status), time.monotonic())
                rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
                phases.setdefault(f"rss_at_{status}", rss)
            super().set(document_id, now, **values)

    class TimedRemote(Remote):
        def finish_upload(self, upload_id: str, destination: str, total: int) -> None:
            start = time.monotonic()
            super().finish_upload(upload_id, destination, total)
            phases["assembly_s"] = phases.get("assembly_s", 0.0) + time.monotonic() - start

    settings = SyncSettings.model_validate(json.loads(os.environ["SYNC_SETTINGS"]))
    password, identity = os.environ["SYNC_PASSWORD"], os.environ["SYNC_IDENTITY"]
    store = TimedStore(open_sqlite(Path(os.environ["SYNC_DATABASE"]), 30.0))

    def remote(secret: str) -> Remote:
        return TimedRemote(settings.url, settings.user, secret, timeout_s=settings.timeout_s)

    service = SyncService(settings, store, lambda: (password, identity), remote=remote)
    store.counts()  # migrated, like an agent that runs
    phases["baseline_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    service.sync_document(os.environ["SYNC_FILE"])
    while service.run_due():
        pass
    phases["end"] = time.monotonic()
    phases["rss_at_end"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(phases))


@dataclass
class Side:
    wall_s: float
    rss_mib: float
    cpu_s: float  # the process's user + system time
    server_cpu_s: float  # the stand-in's, meanwhile
    out: str


def cpu_of(pid: int) -> float:
    """User + system seconds of a running process (/proc/PID/stat, fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measured(argv: list[str], env: dict[str, str], server: int) -> Side:
    """One process: its wall seconds, peak RSS, CPU, the server's CPU meanwhile and its stdout
    (the dirty page cache written back first, not timed)."""
    os.sync()
    server_cpu, start = cpu_of(server), time.monotonic()
    process = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, cwd=ROOT)
    assert process.stdout is not None
    out = process.stdout.read().decode()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"{argv[0]} exited {process.returncode}")
    wall, server_s = time.monotonic() - start, cpu_of(server) - server_cpu
    return Side(wall, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime, server_s, out)


def rclone_config(path: Path, dav_url: str, user: str, password: str) -> None:
    def obscure(value: str) -> str:
        return subprocess.run(["rclone", "obscure", value], check=True, capture_output=True,
                              text=True).stdout.strip()  # fmt: skip

    path.write_text(
        f"[nc]\ntype = webdav\nurl = {dav_url}\nvendor = nextcloud\nuser = {user}\n"
        f"pass = {obscure(password)}\n\n"
        f"[secret]\ntype = crypt\nremote = nc:rclone-bench\n"
        f"password = {obscure(secrets.token_urlsafe(24))}\n"
    )
    path.chmod(0o600)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--chunk-mib", type=int, default=10)
    parser.add_argument("--dir", type=Path, default=None, help="where both sides' files go")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker()
        return
    print_header()
    with tempfile.TemporaryDirectory(prefix="bench-sync-", dir=args.dir) as tmp:
        run(Path(tmp), args)


def wait_listening(port: int) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def filesystem(path: Path) -> str:
    out = subprocess.run(["stat", "-f", "-c", "%T", str(path)], capture_output=True, text=True)
    return out.stdout.strip() or "unknown filesystem"


def one_run(n: int, tmp: Path, url: str, server: int, args: argparse.Namespace) -> float:
    """One side-by-side run (odd runs: rclone first); the ratio rclone's time / ours."""
    source = tmp / "document.bin"
    settings = {
        "enabled": True, "url": url, "user": "alice", "spool_dir": str(tmp / f"spool{n}"),
        "chunk_size": args.chunk_mib * MIB, "recipients": [crypto.recipient_of(
            crypto.new_identity())], "timeout_s": 600,
    }  # fmt: skip
    env = {**os.environ, "SYNC_SETTINGS": json.dumps(settings), "SYNC_PASSWORD": args.password,
           "SYNC_IDENTITY": crypto.new_identity(), "SYNC_DATABASE": str(tmp / f"agent{n}.db"),
           "SYNC_FILE": str(source)}  # fmt: skip
    rclone = ["rclone", "--config", str(tmp / "rclone.conf"), "copyto", str(source),
              f"secret:run{n}/document.bin"]  # fmt: skip
    load = os.getloadavg()[0]
    if n % 2:
        rc = measured(rclone, dict(os.environ), server)
    we = measured([sys.executable, __file__, "--worker"], env, server)
    if not n % 2:
        rc = measured(rclone, dict(os.environ), server)
    theirs, p = rc.wall_s, json.loads(we.out)
    encrypt = p["uploading"] - p["encrypting"]
    upload = p["verifying"] - p["uploading"]
    verify = p["synced"] - p["verifying"]
    mib, both = args.size_mib, encrypt + upload
    work = p["end"] - p["encrypting"]
    print(
        f"run {n + 1} ({'rclone' if n % 2 else 'sync'} first, load average {load:.1f}): sync "
        f"worker: encrypt+upload {both:6.1f} s ({mib / both:6.1f} MiB/s; {upload:.1f} s of it "
        f"after encryption ended, {p.get('assembly_s', 0.0):.1f} s the server's assembly), "
        f"verify {verify:.1f} s, all {work:.1f} s ({we.wall_s:.1f} s with the process start); "
        f"peak RSS {we.rss_mib:5.1f} MiB ({p['baseline_rss_mib']:.1f} after imports); CPU "
        f"{we.cpu_s:.1f} s, the server's {we.server_cpu_s:.1f} s"
    )
    print(
        f"       rclone crypt:  copyto {theirs:6.1f} s ({mib / theirs:6.1f} MiB/s, no "
        f"verification); peak RSS {rc.rss_mib:5.1f} MiB; CPU {rc.cpu_s:.1f} s, the server's "
        f"{rc.server_cpu_s:.1f} s"
    )
    print(
        f"       sync encrypt+upload vs rclone: {theirs / both:.2f}x; "
        f"with verification {theirs / work:.2f}x",
        flush=True,
    )
    return float(theirs / both)


def run(tmp: Path, args: argparse.Namespace) -> None:
    source = tmp / "document.bin"
    with source.open("wb") as f:
        for _ in range(args.size_mib):
            f.write(os.urandom(MIB))
        os.fsync(f.fileno())
    password = args.password = secrets.token_urlsafe(24)
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.standins.nextcloud_dav", "--root", str(tmp / "server"),
         "--port", str(port)],
        env={**os.environ, "NEXTCLOUD_STANDIN_PASSWORD": password}, cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_listening(port)
        url = f"http://127.0.0.1:{port}"
        rclone_config(tmp / "rclone.conf", f"{url}/remote.php/dav/files/alice", "alice", password)
        print(f"file {args.size_mib} MiB in {tmp} ({filesystem(tmp)}), stand-in (not Nextcloud) "
              f"at {url}; {os.cpu_count()} CPUs, shared machine: indicative figures")  # fmt: skip
        ratios: list[float] = []
        for n in range(args.runs):
            ratios.append(one_run(n, tmp, url, server.pid, args))
        if len(ratios) > 1:
            print(f"median sync encrypt+upload vs rclone over {len(ratios)} runs: "
                  f"{statistics.median(ratios):.2f}x (each: "
                  f"{', '.join(f'{r:.2f}x' for r in ratios)})")  # fmt: skip
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
