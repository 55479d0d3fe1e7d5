"""Encryption and upload side by side: the ciphertext is spooled (an upload resumes from the
spool after a restart: age output is random, so a re-encryption could not continue the
chunks already sent) and each chunk is sent as soon as the encrypting thread has written it,
so a document takes about the longer of the two, not their sum. A chunk the server has
acknowledged is freed in the spool at once (transfer.release): only the chunks still unsent
when a resume needs them are kept, and an upload that keeps up writes next to nothing to the
disk (the spool's pages are dropped before their write-back)."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from appliance.sync import crypto, transfer
from appliance.sync.remote import FileRange, Remote


@dataclass
class _Progress:
    changed: threading.Condition = field(default_factory=threading.Condition)
    written: int = 0
    done: bool = False
    sealed: crypto.Sealed | None = None
    error: BaseException | None = None


class _Counting(io.RawIOBase):
    def __init__(self, sink: io.RawIOBase, progress: _Progress) -> None:
        self._sink = sink
        self._progress = progress

    def writable(self) -> bool:
        return True

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        view = memoryview(data)
        while view:  # a raw file may write less than asked
            view = view[self._sink.write(view) or 0 :]
        with self._progress.changed:
            self._progress.written += len(data)
            self._progress.changed.notify_all()
        return len(data)


def partial_ready(progress: _Progress, end: int) -> Callable[[], bool]:
    return lambda: progress.done or progress.written >= end


def encrypt_and_upload(
    source: Path,
    spool: Path,
    recipients: list[str],
    remote: Remote,
    upload: tuple[str, str, int],
    on_chunk: Callable[[int, int], None],
) -> tuple[crypto.Sealed, Exception | None]:
    """Encrypt ``source`` into ``spool`` while sending its chunks to ``upload`` (upload id,
    destination, chunk size). Returns what the encryption measured, and the upload's error if
    it stopped early (the encryption still ends: the spool is whole, the upload resumes from
    it). An encryption error is raised."""
    upload_id, destination, chunk_size = upload
    partial = spool.with_name(spool.name + ".partial")
    progress = _Progress()
    sink = partial.open("wb", buffering=0)
    # Opened before the encryption starts: a small document is encrypted and renamed to
    # ``spool`` before the upload would have opened ``partial`` by its name.
    reader = partial.open("r+b", buffering=0)  # written to only to free chunks

    def encrypt() -> None:
        try:
            with source.open("rb") as src, sink:
                # Not fsynced: 1 GiB of fsync under load cost seconds, and the verification
                # after upload catches a spool a host crash damaged.
                # The threads share the work: one reads and hashes the plaintext, one
                # encrypts, this one hashes the ciphertext as it sends it.
                sealed = crypto.encrypt_stream(src, _Counting(sink, progress), recipients,
                                               read_ahead=True, hash_output=False)  # fmt: skip
            partial.replace(spool)
            progress.sealed = sealed
        except BaseException as exc:  # handed to the caller
            progress.error = exc
        finally:
            with progress.changed:
                progress.done = True
                progress.changed.notify_all()

    thread = threading.Thread(target=encrypt, name="sync-encrypt", daemon=True)
    thread.start()
    failure: Exception | None = None
    digest, hashed = hashlib.sha256(), 0  # the ciphertext, in order, as far as it was sent

    def hash_sent(offset: int, block: bytes) -> None:
        nonlocal hashed
        if offset == hashed:  # in order, once (a body read again would not count twice)
            digest.update(block)
            hashed += len(block)

    def send(fd: int, number: int, start: int, size: int) -> None:
        body = FileRange(fd, start, size, hash_sent)  # a block in memory at a time
        remote.put_chunk(upload_id, number, body, destination, None)

    try:
        remote.start_upload(upload_id, destination)
        with reader:
            number, freeing = 1, True
            while True:
                start = (number - 1) * chunk_size
                with progress.changed:
                    progress.changed.wait_for(partial_ready(progress, start + chunk_size))
                    written, done = progress.written, progress.done
                if progress.error is not None or (done and written <= start):
                    break
                size = min(chunk_size, written - start)
                send(reader.fileno(), number, start, size)
                on_chunk(number, size)  # persisted: only then is the chunk freed
                freeing = freeing and transfer.release(reader.fileno(), start, size)
                number += 1
    except Exception as exc:  # the encryption goes on; the caller records it, then raises
        failure = exc
    finally:
        reader.close()
        thread.join()
    if progress.error is not None:
        raise progress.error
    assert progress.sealed is not None
    size = progress.sealed.ciphertext_size
    with spool.open("rb") as rest:  # what the upload did not reach (never freed: unsent)
        while hashed < size:
            block = os.pread(rest.fileno(), min(1024 * 1024, size - hashed), hashed)
            if not block:
                raise OSError(f"the spool ends at {hashed} of {size} bytes")
            digest.update(block)
            hashed += len(block)
    return dataclasses.replace(progress.sealed, ciphertext_sha256=digest.hexdigest()), failure
