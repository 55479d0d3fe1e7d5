"""A worker process killed with SIGKILL in the middle of a job: the next worker (its state
comes only from the database and the spool) finishes it. Killed while uploading, it sends
only the chunks the server lacks; killed while still encrypting (chunks go up while the
document is encrypted), it starts over with a new ciphertext and drops the old chunks."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from appliance.sync.store import Document, Status
from tests.unit.sync.conftest import CHUNK, SyncBed

CHUNKS = 12  # the document: 12 chunks of plaintext, 13 once encrypted


def big_document(tmp_path: Path) -> Path:
    source = tmp_path / "docs" / "archive.tar"
    source.parent.mkdir()
    with source.open("wb") as f:
        for _ in range(CHUNKS):
            f.write(os.urandom(CHUNK))
    return source


def kill_worker_when(bed: SyncBed, ready: Callable[[Document], bool], job: Document) -> Document:
    """Run a worker in its own process, SIGKILL it once ``ready(job)``; the job as left."""
    env = {
        **os.environ,
        "SYNC_SETTINGS": bed.settings.model_dump_json(),
        "SYNC_PASSWORD": bed.server.password,
        "SYNC_IDENTITY": bed.identity,
        "SYNC_DATABASE": str(bed.database),
    }
    worker = subprocess.Popen([sys.executable, "-m", "tests.unit.sync.worker_process"], env=env,
                              cwd=Path(__file__).parents[3], stdout=subprocess.DEVNULL)  # fmt: skip
    store = bed.service().store
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and worker.poll() is None:
            current = store.get(job.id)
            if current is not None and ready(current):
                worker.send_signal(signal.SIGKILL)
                break
            time.sleep(0.002)
    finally:
        worker.kill()
        worker.wait()
    assert worker.returncode == -signal.SIGKILL, "the worker ended before the moment came"
    left = store.get(job.id)
    assert left is not None
    return left


def opens_to_the_original(bed: SyncBed, job: Document, source: Path) -> bool:
    remote = bed.server.files_root / "sovereign-sync" / "objects" / job.object_id
    plain = subprocess.run(["age", "-d", "-i", str(bed.operator_key), str(remote)], check=True,
                           capture_output=True).stdout  # fmt: skip
    return hashlib.sha256(plain).digest() == hashlib.sha256(source.read_bytes()).digest()


def test_a_worker_killed_mid_upload_is_finished_sending_only_the_missing_chunks(
    bed: SyncBed, tmp_path: Path
) -> None:
    source = big_document(tmp_path)
    job = bed.service().sync_document(source, "ops")
    bed.server.drop_after(CHUNK // 2, path_contains=f"/{CHUNKS}")  # chunk 12 cut: a retry waits
    killed = kill_worker_when(bed, lambda d: d.status is Status.UPLOADING and d.attempts == 1, job)
    assert killed.upload_id is not None and killed.ciphertext_size is not None
    kept = bed.server.chunks(killed.upload_id)
    assert kept == {str(n): CHUNK for n in range(1, CHUNKS)}  # 1-11 held, 12 cut, 13 not sent
    sent_before = bed.server.upload_bytes(killed.upload_id)

    restarted = bed.service()
    bed.drain(restarted)
    done = restarted.store.get(job.id)
    assert done is not None and done.status is Status.SYNCED
    resent = bed.server.upload_bytes(killed.upload_id) - sent_before
    assert resent == killed.ciphertext_size - (CHUNKS - 1) * CHUNK  # chunks 12 and 13 only
    assert opens_to_the_original(bed, done, source)


def test_a_worker_killed_while_encrypting_starts_the_document_over(
    bed: SyncBed, tmp_path: Path
) -> None:
    source = big_document(tmp_path)
    job = bed.service().sync_document(source, "ops")
    killed = kill_worker_when(bed, lambda d: d.status is Status.ENCRYPTING and d.chunks_acked >= 2,
                              job)  # fmt: skip
    assert killed.status is Status.ENCRYPTING and killed.upload_id is not None
    assert bed.server.chunks(killed.upload_id)  # chunks of a ciphertext no one can finish

    restarted = bed.service()
    bed.drain(restarted)
    done = restarted.store.get(job.id)
    assert done is not None and done.status is Status.SYNCED
    assert done.upload_id != killed.upload_id
    assert bed.server.upload_ids() == []  # the old upload folder dropped
    assert opens_to_the_original(bed, done, source)
    assert sorted(p.name for p in bed.settings.spool_dir.iterdir()) == []
