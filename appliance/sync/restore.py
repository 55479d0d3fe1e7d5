"""Reading documents back: one object streamed decrypted (the agent's content endpoint), or a
whole folder rebuilt from the remote and an age identity alone (``sovereign sync restore``).
Needs no database: the remote's encrypted manifest says what each object is."""

from __future__ import annotations

import hashlib
import io
import os
import queue
import threading
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path

from appliance.sync import crypto, manifest
from appliance.sync.remote import Remote

_DONE = object()


class RestoreError(Exception):
    """An object whose plaintext is not what its manifest says."""


class _IterReader(io.RawIOBase):
    """A file over an iterator of byte blocks (a streamed GET)."""

    def __init__(self, blocks: Iterator[bytes]) -> None:
        self._blocks = blocks
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        while not self._pending:
            block = next(self._blocks, None)
            if block is None:
                return 0
            self._pending = block
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n


class _QueueWriter(io.RawIOBase):
    def __init__(self, out: queue.Queue[object], cancelled: threading.Event) -> None:
        self._out = out
        self._cancelled = cancelled

    def writable(self) -> bool:
        return True

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        while True:
            if self._cancelled.is_set():
                raise BrokenPipeError("the reader went away")
            try:
                self._out.put(bytes(data), timeout=0.5)
                return len(data)
            except queue.Full:
                continue


def decrypted(
    remote: Remote, root: str, object_id: str, identities: list[str], sha256: str
) -> Generator[bytes, None, None]:
    """The plaintext of one object, block by block, in bounded memory (a 16-block queue
    between the decrypting thread and the consumer). age authenticates every chunk, so a
    changed byte stops the stream; the sha256 is checked at its end, and a mismatch raises
    RestoreError instead of a clean end (an HTTP client sees a broken transfer)."""
    blocks: queue.Queue[object] = queue.Queue(maxsize=16)
    cancelled = threading.Event()
    outcome: list[object] = []

    def work() -> None:
        try:
            source = _IterReader(remote.stream(manifest.object_path(root, object_id)))
            sink = _QueueWriter(blocks, cancelled)
            outcome.append(crypto.decrypt_stream(source, sink, identities))
        except BaseException as exc:  # handed to the consumer
            outcome.append(exc)
        finally:
            while not cancelled.is_set():
                try:
                    blocks.put(_DONE, timeout=0.5)
                    break
                except queue.Full:
                    continue

    thread = threading.Thread(target=work, name=f"sync-restore-{object_id[:8]}", daemon=True)
    thread.start()
    try:
        while (block := blocks.get()) is not _DONE:
            yield block  # type: ignore[misc]
    finally:
        cancelled.set()
        thread.join(5.0)
    result = outcome[0] if outcome else RestoreError("decryption did not finish")
    if isinstance(result, BaseException):
        raise result
    assert isinstance(result, crypto.Sealed)
    if result.sha256 != sha256:
        raise RestoreError(f"object {object_id}: plaintext sha256 differs from the manifest's")


def entries(remote: Remote, root: str, identities: list[str]) -> list[manifest.Entry]:
    """Every manifest entry on the remote, decrypted (entries this identity cannot open or
    that are not ours are skipped)."""
    found = []
    for member in remote.list(f"{root}/{manifest.MANIFEST}") or []:
        if not manifest.is_object_id(member.name):
            continue
        sink = io.BytesIO()
        remote.download(manifest.manifest_path(root, member.name), sink)
        try:
            entry = manifest.Entry.from_json(crypto.decrypt_bytes(sink.getvalue(), identities))
        except (crypto.SyncCryptoError, manifest.ManifestError):
            continue
        if entry.object_id == member.name:
            found.append(entry)
    return found


@dataclass(frozen=True, slots=True)
class Restored:
    path: str
    target: Path
    size: int
    sha256: str


def restore_all(remote: Remote, root: str, identities: list[str], to: Path) -> list[Restored]:
    """Rebuild every document (its newest version) under ``to``: each written beside its
    place, sha256-checked, then renamed into place with its mtime."""
    done = []
    for path, entry in sorted(manifest.latest(entries(remote, root, identities)).items()):
        target = Path(manifest.restore_target(str(to), path))
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".restoring")
        digest = hashlib.sha256()
        with partial.open("wb") as sink:
            for block in decrypted(remote, root, entry.object_id, identities, entry.sha256):
                sink.write(block)
                digest.update(block)
        if digest.hexdigest() != entry.sha256:  # decrypted() checked too; belt and braces
            partial.unlink()
            raise RestoreError(f"{path}: sha256 differs")
        os.utime(partial, (entry.mtime, entry.mtime))
        partial.replace(target)
        done.append(Restored(path, target, entry.size, entry.sha256))
    return done
