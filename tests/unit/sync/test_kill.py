"""A worker killed with SIGKILL in the middle of an upload: the next worker (a new process's
state comes only from the database and the spool) finishes the job without sending again the
chunks the server kept."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from appliance.sync.store import Status
from tests.unit.sync.conftest import CHUNK, SyncBed


def test_a_worker_killed_mid_upload_is_finished_by_the_next_one(
    bed: SyncBed, tmp_path: Path
) -> None:
    source = tmp_path / "docs" / "archive.tar"
    source.parent.mkdir()
    with source.open("wb") as f:
        for _ in range(24):
            f.write(os.urandom(CHUNK))  # 120 MiB: 25 chunks once encrypted
    job = bed.service().sync_document(source, "ops")
    env = {
        **os.environ,
        "SYNC_SETTINGS": bed.settings.model_dump_json(),
        "SYNC_PASSWORD": bed.server.password,
        "SYNC_IDENTITY": bed.identity,
        "SYNC_DATABASE": str(bed.database),
    }
    worker = subprocess.Popen(
        [sys.executable, "-m", "tests.unit.sync.worker_process"],
        env=env, cwd=Path(__file__).parents[3], stdout=subprocess.PIPE,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        held: dict[str, int] = {}
        while time.monotonic() < deadline and worker.poll() is None:
            ids = bed.server.upload_ids()
            held = bed.server.chunks(ids[0]) if ids else {}
            if len(held) >= 3:
                break
            time.sleep(0.005)
        assert len(held) >= 3, "the worker never got three chunks up"
        worker.send_signal(signal.SIGKILL)
    finally:
        worker.kill()
        worker.wait()
    assert worker.returncode == -signal.SIGKILL

    killed = bed.service().store.get(job.id)
    assert killed is not None and killed.status is Status.UPLOADING and killed.upload_id
    kept = bed.server.chunks(killed.upload_id)
    # the database may lag the server by the chunk in flight: the server is asked, not it
    assert 3 <= len(kept) < 25 and len(kept) - 1 <= killed.chunks_acked <= len(kept)
    sent_before = bed.server.upload_bytes(killed.upload_id)

    restarted = bed.service()
    bed.drain(restarted)
    done = restarted.store.get(job.id)
    assert done is not None and done.status is Status.SYNCED
    assert done.ciphertext_size is not None
    whole = {n: s for n, s in kept.items() if s == CHUNK}  # a chunk cut by the kill is re-sent
    resent = bed.server.upload_bytes(killed.upload_id) - sent_before
    assert resent <= done.ciphertext_size - len(whole) * CHUNK
    plain = subprocess.run(
        ["age", "-d", "-i", str(bed.operator_key),
         str(bed.server.files_root / "sovereign-sync" / "objects" / job.object_id)],
        check=True, capture_output=True,
    ).stdout  # fmt: skip
    assert hashlib.sha256(plain).hexdigest() == hashlib.sha256(source.read_bytes()).hexdigest()
