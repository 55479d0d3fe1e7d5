"""Sovereign Sync against its anchor, side by side in one run on the same server: encrypt and
upload one file (1 GiB by default) with the agent's sync worker (age, chunked upload v2, then
verified by download and hash) and with Debian's rclone (a crypt remote over WebDAV, vendor
nextcloud: one PUT, no verification), to the Nextcloud stand-in (tests/standins/nextcloud_dav.py,
NOT Nextcloud) in a process of its own. Each side runs in its own process: its wall time, its
peak RSS (wait4) and, for the worker, its phases. Figures are indicative on a shared machine.

    .venv/bin/python bench/sync.py [--size-mib 1024] [--runs 1] [--chunk-mib 10]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchlib import ROOT, free_port, print_header

from appliance.sync import crypto
from appliance.sync.settings import MIB


def worker() -> None:
    """The measured side: one SyncService run to the end of its jobs, phases timed."""
    from appliance.database.connect import open_sqlite
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

    settings = SyncSettings.model_validate(json.loads(os.environ["SYNC_SETTINGS"]))
    password, identity = os.environ["SYNC_PASSWORD"], os.environ["SYNC_IDENTITY"]
    store = TimedStore(open_sqlite(Path(os.environ["SYNC_DATABASE"]), 30.0))
    service = SyncService(settings, store, lambda: (password, identity))
    store.counts()  # migrated, like an agent that runs
    phases["baseline_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    service.sync_document(os.environ["SYNC_FILE"])
    while service.run_due():
        pass
    phases["end"] = time.monotonic()
    phases["rss_at_end"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(phases))


def measured(argv: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Wall seconds, peak RSS (MiB) and stdout of one process."""
    start = time.monotonic()
    process = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, cwd=ROOT)
    assert process.stdout is not None
    out = process.stdout.read().decode()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"{argv[0]} exited {process.returncode}")
    return time.monotonic() - start, usage.ru_maxrss / 1024, out


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
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--chunk-mib", type=int, default=10)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker()
        return
    print_header()
    with tempfile.TemporaryDirectory(prefix="bench-sync-") as tmp:
        run(Path(tmp), args)


def run(tmp: Path, args: argparse.Namespace) -> None:
    source = tmp / "document.bin"
    with source.open("wb") as f:
        for _ in range(args.size_mib):
            f.write(os.urandom(MIB))
    password, port = secrets.token_urlsafe(24), free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.standins.nextcloud_dav", "--root", str(tmp / "server"),
         "--port", str(port)],
        env={**os.environ, "NEXTCLOUD_STANDIN_PASSWORD": password}, cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        time.sleep(1.5)
        url = f"http://127.0.0.1:{port}"
        rclone_config(tmp / "rclone.conf", f"{url}/remote.php/dav/files/alice", "alice", password)
        identity = crypto.new_identity()
        print(f"file {args.size_mib} MiB, stand-in (not Nextcloud) at {url}; "
              f"{os.cpu_count()} CPUs, shared machine: indicative figures")  # fmt: skip
        for n in range(args.runs):
            settings = {
                "enabled": True, "url": url, "user": "alice", "spool_dir": str(tmp / f"spool{n}"),
                "chunk_size": args.chunk_mib * MIB, "recipients": [crypto.recipient_of(
                    crypto.new_identity())], "timeout_s": 600,
            }  # fmt: skip
            env = {**os.environ, "SYNC_SETTINGS": json.dumps(settings), "SYNC_PASSWORD": password,
                   "SYNC_IDENTITY": identity, "SYNC_DATABASE": str(tmp / f"agent{n}.db"),
                   "SYNC_FILE": str(source)}  # fmt: skip
            ours, ours_rss, out = measured([sys.executable, __file__, "--worker"], env)
            p = json.loads(out)
            encrypt = p["uploading"] - p["encrypting"]
            upload = p["verifying"] - p["uploading"]
            verify = p["synced"] - p["verifying"]
            theirs, theirs_rss, _ = measured(
                ["rclone", "--config", str(tmp / "rclone.conf"), "copyto", str(source),
                 f"secret:run{n}/document.bin"], dict(os.environ),
            )  # fmt: skip
            mib, both = args.size_mib, encrypt + upload
            work = p["end"] - p["encrypting"]
            print(
                f"run {n + 1}: sync worker: encrypt+upload {both:6.1f} s ({mib / both:6.1f} "
                f"MiB/s; {upload:.1f} s of it after encryption ended), verify {verify:.1f} s, "
                f"all {work:.1f} s ({ours:.1f} s with the process start); peak RSS "
                f"{ours_rss:5.1f} MiB ({p['baseline_rss_mib']:.1f} after imports)"
            )
            print(
                f"       rclone crypt:  copyto {theirs:6.1f} s ({mib / theirs:6.1f} MiB/s, no "
                f"verification); peak RSS {theirs_rss:5.1f} MiB"
            )
            print(
                f"       sync encrypt+upload vs rclone: {theirs / both:.2f}x; "
                f"with verification {theirs / work:.2f}x"
            )
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
