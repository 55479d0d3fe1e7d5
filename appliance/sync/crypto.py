"""age v1 (X25519) streaming encryption of documents, through pyrage.

pyrage's ``encrypt_io``/``decrypt_io`` stream: they read the source and write the output
piecewise (age's STREAM, 64 KiB chunks), so memory stays bounded whatever the file size
(measured: 12 MiB peak RSS for a 400 MiB file). Every byte passes a hash on its way in and
out, so one pass gives the plaintext's and the ciphertext's sha256 and sizes.

Shared by the agent and the operator's restore (sovereign/cli_sync.py): no database, no server.
"""

from __future__ import annotations

import hashlib
import io
import os
import queue
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import pyrage
from pyrage import x25519

#: A file, or a raw stream (a download, a queue).
Stream = IO[bytes] | io.RawIOBase


class SyncCryptoError(Exception):
    """A key that is not an age key, or a ciphertext no identity given opens."""


class _HashingReader(io.RawIOBase):
    """Hands pyrage its small reads (8 KiB) out of 1 MiB blocks: a file read and a hash
    update per block rather than per 8 KiB (a third of the encryption's time, measured)."""

    BLOCK = 1024 * 1024

    def __init__(self, source: Stream) -> None:
        self._source = source
        self.error: Exception | None = None
        self._block = memoryview(b"")
        self.digest = hashlib.sha256()
        self.size = 0

    def readable(self) -> bool:
        return True

    def _next_block(self) -> bytes:
        data = self._source.read(self.BLOCK) or b""
        self.digest.update(data)
        self.size += len(data)
        return data

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        if not self._block:
            try:
                self._block = memoryview(self._next_block())
            except Exception as exc:  # pyrage would turn it into a decryption error
                self.error = exc
                raise
        n = min(len(buffer), len(self._block))
        buffer[:n] = self._block[:n]
        self._block = self._block[n:]
        return n


class _ReadAhead(_HashingReader):
    """Reads and hashes the source in a thread of its own, a few blocks ahead (a file read
    and hashlib release the GIL): pyrage's thread only encrypts, the hash of the plaintext
    runs beside it instead of before each block's encryption. ``stop()`` when done."""

    BLOCK = 256 * 1024  # off the encrypting thread: smaller blocks, less memory
    AHEAD = 4  # blocks queued (1 MiB)

    def __init__(self, source: Stream) -> None:
        super().__init__(source)
        self._queue: queue.Queue[bytes | Exception] = queue.Queue(self.AHEAD)
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._fill, name="sync-read", daemon=True)
        self._thread.start()

    def _fill(self) -> None:
        while not self._stopping.is_set():
            try:
                item: bytes | Exception = super()._next_block()
            except Exception as exc:
                item = exc
            while not self._stopping.is_set():
                try:
                    self._queue.put(item, timeout=0.1)
                    break
                except queue.Full:
                    continue
            if not isinstance(item, bytes) or not item:
                return

    def _next_block(self) -> bytes:
        item = self._queue.get()
        if isinstance(item, Exception):
            raise item
        if not item:
            self._queue.put(item)  # the end, for any read after it
        return item

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join()


class _HashingWriter(io.RawIOBase):
    def __init__(self, sink: Stream, *, hashing: bool = True) -> None:
        self._sink = sink
        self.error: Exception | None = None
        self.digest = hashlib.sha256()
        self._hashing = hashing
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        try:
            self._sink.write(data)
        except Exception as exc:
            self.error = exc
            raise
        if self._hashing:
            self.digest.update(data)
        self.size += len(data)
        return len(data)


@dataclass(frozen=True, slots=True)
class Sealed:
    """What one encryption pass measured."""

    size: int
    sha256: str
    ciphertext_size: int
    ciphertext_sha256: str


def _recipients(recipients: list[str]) -> list[x25519.Recipient]:
    try:
        return [x25519.Recipient.from_str(r) for r in recipients]
    except pyrage.RecipientError as exc:
        raise SyncCryptoError(f"not an age recipient: {exc}") from None


def _identity(identity: str) -> x25519.Identity:
    try:
        return x25519.Identity.from_str(identity.strip())
    except pyrage.IdentityError:
        raise SyncCryptoError("not an age identity (AGE-SECRET-KEY-1…)") from None


def _raise_own(reader: _HashingReader, writer: _HashingWriter) -> None:
    error = reader.error or writer.error
    if error is not None:
        raise error


def recipient_of(identity: str) -> str:
    """The public recipient (age1…) of an identity."""
    return str(_identity(identity).to_public())


def new_identity() -> str:
    return str(x25519.Identity.generate())


def encrypt_stream(
    source: Stream, sink: Stream, recipients: list[str], *, read_ahead: bool = False,
    hash_output: bool = True,
) -> Sealed:  # fmt: skip
    """age-encrypt ``source`` into ``sink`` for every recipient, in bounded memory.
    ``read_ahead``: read and hash the source in a thread of its own. ``hash_output=False``:
    the caller hashes the ciphertext (Sealed.ciphertext_sha256 is then empty)."""
    if not recipients:
        raise SyncCryptoError("no recipients: nobody could decrypt")
    keys = _recipients(recipients)
    reader = _ReadAhead(source) if read_ahead else _HashingReader(source)
    writer = _HashingWriter(sink, hashing=hash_output)
    try:
        pyrage.encrypt_io(reader, writer, keys)
    except Exception:
        _raise_own(reader, writer)
        raise
    finally:
        if isinstance(reader, _ReadAhead):
            reader.stop()
    digest = writer.digest.hexdigest() if hash_output else ""
    return Sealed(reader.size, reader.digest.hexdigest(), writer.size, digest)


def encrypt_file(source: Path, target: Path, recipients: list[str]) -> Sealed:
    """Encrypt ``source`` into ``target`` (written beside it, synced, then renamed into place,
    so ``target`` is whole or absent)."""
    partial = target.with_name(target.name + ".partial")
    with source.open("rb") as src, partial.open("wb") as dst:
        sealed = encrypt_stream(src, dst, recipients)
        dst.flush()
        os.fsync(dst.fileno())
    partial.replace(target)
    return sealed


def encrypt_bytes(data: bytes, recipients: list[str]) -> bytes:
    sink = io.BytesIO()
    encrypt_stream(io.BytesIO(data), sink, recipients)
    return sink.getvalue()


def decrypt_stream(source: Stream, sink: Stream, identities: list[str]) -> Sealed:
    """Decrypt ``source`` into ``sink``; the sizes and hashes of both sides. age authenticates
    every chunk, so a tampered or truncated ciphertext raises SyncCryptoError."""
    reader, writer = _HashingReader(source), _HashingWriter(sink)
    try:
        pyrage.decrypt_io(reader, writer, [_identity(i) for i in identities])
    except Exception as exc:
        _raise_own(reader, writer)  # the source's or the sink's error, not a decryption's
        # A bad chunk (tampered, truncated) surfaces as an I/O error naming decryption.
        if isinstance(exc, pyrage.DecryptError) or "decrypt" in str(exc):
            raise SyncCryptoError(f"cannot decrypt: {exc}") from None
        raise
    return Sealed(writer.size, writer.digest.hexdigest(), reader.size, reader.digest.hexdigest())


def decrypt_bytes(data: bytes, identities: list[str]) -> bytes:
    sink = io.BytesIO()
    decrypt_stream(io.BytesIO(data), sink, identities)
    return sink.getvalue()
