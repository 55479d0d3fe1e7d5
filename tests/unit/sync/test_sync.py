"""Sync jobs end to end against the Nextcloud stand-in (NOT Nextcloud): encrypted, uploaded
in chunks, verified, resumed after a cut, retried through outages, failed and notified past
their retries, restored with the operator's key alone."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest

from appliance.sync import crypto, restore
from appliance.sync.store import Status
from tests.unit.sync.conftest import CHUNK, SyncBed


def document(directory: Path, name: str, size: int) -> Path:
    path = directory / "docs" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    marker = f"PLAINTEXT-{name}-".encode()
    path.write_bytes((marker * (size // len(marker) + 1))[:size])
    return path


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def remote_files(bed: SyncBed) -> list[Path]:
    return sorted(p for p in bed.server.files_root.rglob("*") if p.is_file())


def test_synced_documents_open_with_debians_age_and_nothing_remote_names_them(
    bed: SyncBed, tmp_path: Path
) -> None:
    big = document(tmp_path, "Quarterly report.pdf", 2 * CHUNK + 12345)  # three chunks
    small = document(tmp_path, "passport-scan.png", 1000)
    service = bed.service()
    jobs = [service.sync_document(big, "ops"), service.sync_document(small, "ops")]
    started = bed.clock.now
    bed.drain(service)
    assert bed.clock.now == started  # no outage here: no job waited for a retry

    for job, source in zip(jobs, (big, small), strict=True):
        done = service.store.get(job.id)
        assert done is not None and done.status is Status.SYNCED, done
        assert done.sha256 == sha256(source) and done.size == source.stat().st_size
        remote_object = bed.server.files_root / "sovereign-sync" / "objects" / job.object_id
        plain = subprocess.run(["age", "-d", "-i", str(bed.operator_key), str(remote_object)],
                               check=True, capture_output=True).stdout  # fmt: skip
        assert hashlib.sha256(plain).hexdigest() == sha256(source)
    files = remote_files(bed)
    assert len(files) == 4  # two objects, two manifest entries
    for remote in files:
        content = remote.read_bytes()
        assert content.startswith(b"age-encryption.org/v1\n")
        for source in (big, small):
            assert source.name not in str(remote) and source.stem.encode() not in content
            assert b"PLAINTEXT" not in content and str(source).encode() not in content
    assert not any(bed.settings.spool_dir.iterdir())  # ciphertext spool emptied
    assert bed.server.upload_ids() == []  # chunk folders assembled and gone


def test_an_upload_cut_at_60_percent_resumes_without_sending_kept_chunks_again(
    bed: SyncBed, tmp_path: Path
) -> None:
    source = document(tmp_path, "scan.tiff", 10 * CHUNK - 100)  # ten chunks
    bed.server.drop_after(CHUNK // 2, path_contains="/7")  # chunk 7 cut halfway
    job = bed.service().sync_document(source, "ops")
    first = bed.service()
    assert first.run_due()
    cut = first.store.get(job.id)
    assert cut is not None and cut.status is Status.UPLOADING and cut.chunks_acked == 6
    assert cut.attempts == 1 and cut.reason is not None and cut.upload_id is not None
    assert bed.server.chunks(cut.upload_id) == {str(n): CHUNK for n in range(1, 7)}
    sent_before = bed.server.upload_bytes(cut.upload_id)
    assert sent_before == 6 * CHUNK + CHUNK // 2

    restarted = bed.service()  # a new worker, as after an agent restart: state from the DB
    bed.drain(restarted)
    done = restarted.store.get(job.id)
    assert done is not None and done.status is Status.SYNCED
    assert cut.ciphertext_size is not None
    resent = bed.server.upload_bytes(cut.upload_id) - sent_before
    assert resent == cut.ciphertext_size - 6 * CHUNK  # chunks 7-10 only
    remote_object = bed.server.files_root / "sovereign-sync" / "objects" / job.object_id
    assert hashlib.sha256(remote_object.read_bytes()).hexdigest() == cut.ciphertext_sha256


def test_an_outage_is_retried_with_growing_delays_then_synced(bed: SyncBed, tmp_path: Path) -> None:
    source = document(tmp_path, "a.txt", 5000)
    service = bed.service()
    job = service.sync_document(source, "ops")
    bed.server.fail(count=3)
    delays = []
    for attempt in (1, 2, 3):
        start = bed.clock.now
        assert service.run_due()
        waiting = service.store.get(job.id)
        assert waiting is not None and waiting.attempts == attempt
        assert waiting.status is not Status.FAILED and "503" in (waiting.reason or "")
        delays.append(waiting.next_attempt_at - start)
        assert not service.run_due()  # not due before its delay
        bed.clock.now = waiting.next_attempt_at
    assert delays == [1.0, 2.0, 4.0]
    bed.drain(service)
    done = service.store.get(job.id)
    assert done is not None and done.status is Status.SYNCED and done.reason is None
    assert bed.notified == []


def test_a_job_past_its_retries_fails_with_its_reason_and_notifies(
    bed: SyncBed, tmp_path: Path
) -> None:
    source = document(tmp_path, "b.txt", 5000)
    service = bed.service(max_attempts=2)
    job = service.sync_document(source, "ops")
    bed.server.fail(seconds=600)
    bed.drain(service)
    failed = service.store.get(job.id)
    assert failed is not None and failed.status is Status.FAILED
    assert "503" in (failed.reason or "") and "after 2 attempts" in (failed.reason or "")
    assert [d.id for d in bed.notified] == [job.id]
    spool = bed.settings.spool_dir
    assert not spool.exists() or not any(spool.iterdir())


def test_a_document_gone_before_encryption_fails_at_once(bed: SyncBed, tmp_path: Path) -> None:
    source = document(tmp_path, "c.txt", 10)
    service = bed.service()
    job = service.sync_document(source, "ops")
    source.unlink()
    bed.drain(service)
    failed = service.store.get(job.id)
    assert failed is not None and failed.status is Status.FAILED
    assert failed.reason == f"the document is gone: {source}"
    with pytest.raises(FileNotFoundError):
        service.sync_document(source)
    with pytest.raises(ValueError, match="absolute"):
        service.sync_document("relative/path")


def test_restore_rebuilds_the_folder_with_the_operators_key_alone(
    bed: SyncBed, tmp_path: Path
) -> None:
    sources = [document(tmp_path, f"sub/{n}.bin", size) for n, size in
               (("one", 3), ("two", CHUNK + 7), ("three", 0))]  # fmt: skip
    old = document(tmp_path, "v.txt", 10)
    service = bed.service()
    service.sync_document(old)
    bed.drain(service)
    bed.clock.now += 10
    old.write_bytes(b"second version")
    for source in [*sources, old]:
        service.sync_document(source)
    bed.drain(service)

    target = tmp_path / "restored"
    remote = bed.remote()
    done = restore.restore_all(remote, "sovereign-sync", [bed.operator_identity], target)
    assert sorted(r.path for r in done) == sorted(str(s) for s in [*sources, old])
    for source in [*sources, old]:
        rebuilt = target / str(source).lstrip("/")
        assert sha256(rebuilt) == sha256(source)
        assert rebuilt.stat().st_mtime == pytest.approx(source.stat().st_mtime, abs=1e-3)
    assert (target / str(old).lstrip("/")).read_bytes() == b"second version"

    entry = next(e for e in restore.entries(remote, "sovereign-sync", [bed.identity])
                 if e.path == str(sources[1]))  # fmt: skip
    with pytest.raises(restore.RestoreError):  # the wrong checksum breaks the stream
        b"".join(restore.decrypted(remote, "sovereign-sync", entry.object_id,
                                   [bed.identity], "0" * 64))  # fmt: skip
    assert (
        b"".join(
            restore.decrypted(
                remote, "sovereign-sync", entry.object_id, [bed.identity], entry.sha256
            )
        )
        == sources[1].read_bytes()
    )
    stranger = [crypto.new_identity()]  # opens no manifest entry: restores nothing
    assert restore.restore_all(remote, "sovereign-sync", stranger, tmp_path / "none") == []


def test_a_chunk_changed_on_the_server_fails_verification_and_the_document_goes_again(
    bed: SyncBed, tmp_path: Path
) -> None:
    source = document(tmp_path, "ledger.xlsx", 3 * CHUNK)
    bed.server.drop_after(CHUNK // 2, path_contains="/3")
    service = bed.service()
    job = service.sync_document(source, "ops")
    assert service.run_due()  # chunks 1-2 held, 3 cut
    cut = service.store.get(job.id)
    assert cut is not None and cut.upload_id is not None
    held = bed.server.root / "uploads" / bed.server.user / cut.upload_id / "1"
    changed = bytearray(held.read_bytes())
    changed[1000] ^= 0xFF  # same size: only a checksum of what the server holds can tell
    held.write_bytes(bytes(changed))

    bed.clock.now = cut.next_attempt_at
    assert service.run_due()
    caught = service.store.get(job.id)
    assert caught is not None and caught.status is Status.QUEUED
    assert "verification failed" in (caught.reason or "") and "sha256" in (caught.reason or "")
    bed.drain(service)
    done = service.store.get(job.id)
    assert done is not None and done.status is Status.SYNCED and done.upload_id != cut.upload_id
    remote_object = bed.server.files_root / "sovereign-sync" / "objects" / job.object_id
    plain = subprocess.run(["age", "-d", "-i", str(bed.operator_key), str(remote_object)],
                           check=True, capture_output=True).stdout  # fmt: skip
    assert hashlib.sha256(plain).hexdigest() == sha256(source)
