"""The spool keeps only what a resume may need: a chunk the server acknowledged is freed (a
hole), a resume reads only past the chunks the server holds, and a server that lost chunks
the spool freed gets a new ciphertext, never the zeros of a hole. Against the Nextcloud
stand-in (NOT Nextcloud) and the real filesystem of tmp_path."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

from appliance.sync import transfer
from appliance.sync.store import Status
from tests.unit.sync.conftest import CHUNK, SyncBed

BLOCK = 64 * 1024  # more than any filesystem block here: the slack of a hole's edges


def random_document(tmp_path: Path, chunks: int) -> Path:
    path = tmp_path / "docs" / "scan.raw"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(os.urandom(chunks * CHUNK - 100))
    return path


def test_release_frees_a_range_which_reads_as_a_hole_and_zeros(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    data = os.urandom(3 * CHUNK)
    spool.write_bytes(data)
    with spool.open("r+b", buffering=0) as f:
        os.fsync(f.fileno())  # allocated on the disk, not only in the page cache
        allocated = os.fstat(f.fileno()).st_blocks * 512
        assert transfer.release(f.fileno(), 0, 2 * CHUNK)
        assert os.fstat(f.fileno()).st_size == 3 * CHUNK  # the size is kept
        assert allocated - os.fstat(f.fileno()).st_blocks * 512 >= 2 * CHUNK - BLOCK
        assert os.pread(f.fileno(), 100, CHUNK) == bytes(100)
        assert os.pread(f.fileno(), CHUNK, 2 * CHUNK) == data[2 * CHUNK :]  # the rest intact
        assert not transfer.holds_from(f.fileno(), 0, 3 * CHUNK)
        assert not transfer.holds_from(f.fileno(), CHUNK, 3 * CHUNK)
        assert transfer.holds_from(f.fileno(), 2 * CHUNK, 3 * CHUNK)
        assert transfer.holds_from(f.fileno(), 3 * CHUNK, 3 * CHUNK)  # nothing left to read


def test_chunks_the_server_acknowledged_are_freed_in_the_spool_and_a_resume_still_completes(
    bed: SyncBed, tmp_path: Path
) -> None:
    source = random_document(tmp_path, 10)
    bed.server.drop_after(CHUNK // 2, path_contains="/7")  # chunk 7 cut halfway
    service = bed.service()
    job = service.sync_document(source, "ops")
    assert service.run_due()
    cut = service.store.get(job.id)
    assert cut is not None and cut.status is Status.UPLOADING and cut.chunks_acked == 6
    assert cut.ciphertext_size is not None
    spool = service.spool(cut)
    with spool.open("rb") as f:
        assert os.fstat(f.fileno()).st_size == cut.ciphertext_size
        # Chunks 1-6 are a hole (on a filesystem that can punch one: tmpfs, ext4, xfs, zfs).
        assert os.lseek(f.fileno(), 0, os.SEEK_DATA) >= 6 * CHUNK - BLOCK
        assert transfer.holds_from(f.fileno(), 6 * CHUNK, cut.ciphertext_size)
        os.fsync(f.fileno())
        assert os.fstat(f.fileno()).st_blocks * 512 <= cut.ciphertext_size - 6 * CHUNK + BLOCK

    bed.clock.now = cut.next_attempt_at
    bed.drain(service)
    done = service.store.get(job.id)
    assert done is not None and done.status is Status.SYNCED and done.upload_id == cut.upload_id
    remote_object = bed.server.files_root / "sovereign-sync" / "objects" / job.object_id
    assert hashlib.sha256(remote_object.read_bytes()).hexdigest() == cut.ciphertext_sha256


def test_a_server_that_lost_acknowledged_chunks_gets_a_new_ciphertext_not_the_holes(
    bed: SyncBed, tmp_path: Path
) -> None:
    source = random_document(tmp_path, 8)
    bed.server.drop_after(CHUNK // 2, path_contains="/5")
    service = bed.service()
    job = service.sync_document(source, "ops")
    assert service.run_due()
    cut = service.store.get(job.id)
    assert cut is not None and cut.status is Status.UPLOADING and cut.upload_id is not None
    # What Nextcloud's cleanup of stale uploads does: the upload folder and its chunks go.
    shutil.rmtree(bed.server.root / "uploads" / bed.server.user / cut.upload_id)

    bed.clock.now = cut.next_attempt_at
    assert service.run_due()
    caught = service.store.get(job.id)
    assert caught is not None and caught.status is Status.UPLOADING
    assert "no longer holds chunks" in (caught.reason or "")
    assert not service.spool(caught).exists()  # nothing of the holes was sent
    bed.drain(service)
    done = service.store.get(job.id)
    assert done is not None and done.status is Status.SYNCED and done.upload_id != cut.upload_id
    assert done.ciphertext_sha256 != cut.ciphertext_sha256  # a new ciphertext went up
    remote_object = bed.server.files_root / "sovereign-sync" / "objects" / job.object_id
    plain = subprocess.run(["age", "-d", "-i", str(bed.operator_key), str(remote_object)],
                           check=True, capture_output=True).stdout  # fmt: skip
    assert plain == source.read_bytes()
