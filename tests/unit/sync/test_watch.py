"""Watched folders (appliance/sync/watch.py) on a real SQLite agent database and the
Nextcloud-compatible stand-in (NOT Nextcloud): new and changed files are synced, unchanged or
only touched ones are not, also after a restart (a new service on the same database)."""

from __future__ import annotations

import logging
import os
import time
from dataclasses import fields
from pathlib import Path

import pytest

from appliance.sync import manifest, restore
from appliance.sync.settings import WatchedFolder
from appliance.sync.store import Document, Status
from appliance.sync.watch import Seen, Verdict, Watcher, decide
from tests.unit.sync.conftest import SyncBed


def write(path: Path, data: bytes, mtime: float) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    os.utime(path, (mtime, mtime))
    return path


def watcher(bed: SyncBed, folder: Path, pattern: str = "*") -> Watcher:
    bed.clock.now = time.time() + 3600  # every file settled
    service = bed.service(watch=[WatchedFolder(path=folder, pattern=pattern)], settle_s=5.0)
    return Watcher(service)


def synced_plaintexts(bed: SyncBed) -> dict[str, bytes]:
    """path → decrypted bytes of each document's newest object on the server (through the
    encrypted manifest, as a restore reads it)."""
    remote, root, keys = bed.remote(), bed.settings.remote_root, [bed.operator_identity]
    try:
        newest = manifest.latest(restore.entries(remote, root, keys))
        return {
            path: b"".join(restore.decrypted(remote, root, e.object_id, keys, e.sha256))
            for path, e in newest.items()
        }
    finally:
        remote.close()


def document(**values: object) -> Document:
    base: dict[str, object] = {f.name: None for f in fields(Document)}
    base.update(id=1, path="/d/a", object_id="x", requested_by="watch", chunks_acked=0,
                bytes_sent=0, attempts=0, next_attempt_at=0.0, created_at=0.0,
                updated_at=0.0)  # fmt: skip
    base.update(values)
    return Document(**base)  # type: ignore[arg-type]


def test_new_files_matching_the_pattern_are_synced_once(bed: SyncBed, tmp_path: Path) -> None:
    folder = tmp_path / "scans"
    old = time.time() - 60
    a = write(folder / "a.pdf", b"contract A" * 100, old)
    b = write(folder / "deep" / "b.pdf", b"contract B" * 100, old)
    write(folder / "notes.txt", b"not matched", old)
    scan = watcher(bed, folder, "*.pdf")
    queued = scan.scan()
    assert sorted(d.path for d in queued) == sorted([str(a), str(b)])
    assert {d.requested_by for d in queued} == {"watch"}
    assert scan.scan() == []  # queued, not yet synced: not queued twice
    bed.drain(scan.service)
    assert scan.scan() == []
    assert {p: v[:10] for p, v in synced_plaintexts(bed).items()} == {
        str(a): b"contract A", str(b): b"contract B",
    }  # fmt: skip


def test_a_restart_sends_nothing_unchanged_and_a_touch_is_not_a_change(
    bed: SyncBed, tmp_path: Path
) -> None:
    folder = tmp_path / "docs"
    old = time.time() - 60
    kept = write(folder / "kept.bin", os.urandom(4096), old)
    changed = write(folder / "changed.bin", os.urandom(4096), old)
    first = watcher(bed, folder)
    assert len(first.scan()) == 2
    bed.drain(first.service)
    sent = bed.server.bytes_received()
    os.utime(kept, (old + 10, old + 10))  # touched: same bytes
    write(changed, os.urandom(4096), old + 10)  # same size, new bytes
    again = watcher(bed, folder)  # a restarted agent: a new service, the same database
    queued = again.scan()
    assert [d.path for d in queued] == [str(changed)]
    bed.drain(again.service)
    assert again.scan() == []  # the touch was recorded: no second hashing verdict either
    rows = again.service.store.latest_under(str(folder))
    assert rows[str(kept)].mtime == old + 10 and rows[str(kept)].status is Status.SYNCED
    assert synced_plaintexts(bed)[str(changed)] == changed.read_bytes()
    assert bed.server.bytes_received() - sent < 3 * 4096  # one small document again, not two


def test_a_file_still_being_written_waits_for_the_next_scan(bed: SyncBed, tmp_path: Path) -> None:
    folder = tmp_path / "incoming"
    scan = watcher(bed, folder)
    write(folder / "fresh.bin", b"x" * 100, scan.service.now() - 1)  # within settle_s
    assert scan.scan() == []
    bed.clock.now += 10
    assert [Path(d.path).name for d in scan.scan()] == ["fresh.bin"]


def test_a_folder_that_does_not_exist_yet_is_said_once_then_watched(
    bed: SyncBed, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "not-yet"
    scan = watcher(bed, folder)
    with caplog.at_level(logging.INFO, logger="appliance.sync.watch"):
        assert scan.scan() == [] and scan.scan() == []
        said = [r.getMessage() for r in caplog.records]
        assert said == [
            f"watched folder {folder} is not there (or not a folder): skipped until it is"
        ]
        write(folder / "late.txt", b"late", scan.service.now() - 60)
        assert [Path(d.path).name for d in scan.scan()] == ["late.txt"]
    assert f"watched folder {folder} is there again" in caplog.messages


def test_decide() -> None:
    seen = Seen("/d/a", 10, 100.0)
    assert decide(seen, None) is Verdict.QUEUE
    assert decide(seen, document(status=Status.UPLOADING)) is Verdict.SKIP
    synced = document(status=Status.SYNCED, size=10, mtime=100.0)
    assert decide(seen, synced) is Verdict.SKIP
    assert decide(Seen("/d/a", 10, 101.0), synced) is Verdict.HASH
    assert decide(Seen("/d/a", 11, 101.0), synced) is Verdict.QUEUE
    failed = document(status=Status.FAILED, created_at=100.0)
    assert decide(seen, failed) is Verdict.SKIP  # unchanged since: no retry storm
    assert decide(Seen("/d/a", 10, 100.5), failed) is Verdict.QUEUE
