"""Resumable chunked upload of a spooled ciphertext, and its verification on the server.

A chunk the server has acknowledged is freed in the spool (a hole punched: its pages leave
the page cache before they are written back, so the ciphertext of a document whose upload
keeps up with its encryption barely reaches the disk); a resume reads only the chunks after
those the server holds, and checks that the spool still has them."""

from __future__ import annotations

import ctypes
import errno
import hashlib
import os
from collections.abc import Callable
from pathlib import Path

from appliance.sync.remote import FileRange, Remote, RemoteError


def chunk_count(size: int, chunk_size: int) -> int:
    return max(1, -(-size // chunk_size))


def kept_prefix(held: dict[str, int], size: int, chunk_size: int) -> int:
    """How many chunks from the first the server holds whole (pure): chunk n is named ``n``
    and has its full length; the first gap or short chunk ends the prefix."""
    kept = 0
    for number in range(1, chunk_count(size, chunk_size) + 1):
        expected = min(chunk_size, size - (number - 1) * chunk_size)
        if held.get(str(number)) != expected:
            break
        kept = number
    return kept


_FALLOC_FL_KEEP_SIZE, _FALLOC_FL_PUNCH_HOLE = 0x01, 0x02
_libc = ctypes.CDLL(None, use_errno=True)
_libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]


def release(fd: int, start: int, size: int) -> bool:
    """Free ``size`` bytes of the spool open (for writing) as ``fd`` from ``start``: they
    read as zeros after, the file keeps its size. False where the filesystem cannot."""
    if _libc.fallocate(fd, _FALLOC_FL_PUNCH_HOLE | _FALLOC_FL_KEEP_SIZE, start, size) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EOPNOTSUPP, errno.ENOSYS):
        return False
    raise OSError(code, os.strerror(code))


def holds_from(fd: int, offset: int, size: int) -> bool:
    """Whether the file open as ``fd`` has data, no hole, from ``offset`` to ``size``."""
    if offset >= size:
        return True
    try:
        return os.lseek(fd, offset, os.SEEK_HOLE) >= size
    except OSError:  # no SEEK_HOLE: no punched hole either
        return True


def upload(
    remote: Remote,
    spool: Path,
    upload_id: str,
    destination: str,
    chunk_size: int,
    on_chunk: Callable[[int, int], None],
) -> None:
    """Send ``spool`` to ``destination`` by chunked upload ``upload_id``, resuming: the chunks
    the server already holds are not sent again. ``on_chunk(number, nbytes)`` after each
    acknowledged chunk (the caller persists progress)."""
    size = spool.stat().st_size
    members = remote.list(upload_id, uploads=True)
    if members is None:
        remote.start_upload(upload_id, destination)
        kept = 0
    else:
        kept = kept_prefix({m.name: m.size for m in members}, size, chunk_size)
    with spool.open("rb") as source:
        if not holds_from(source.fileno(), kept * chunk_size, size):
            # The server lost chunks it had acknowledged (its cleanup of old uploads), and the
            # spool freed them: only a new ciphertext can go (no spool: the next attempt
            # encrypts again).
            spool.unlink()
            raise RemoteError("the server no longer holds chunks it had acknowledged, and "
                              "the spool freed them: encrypting again", transient=True)  # fmt: skip
        for number in range(kept + 1, chunk_count(size, chunk_size) + 1):
            start = (number - 1) * chunk_size
            body = FileRange(source.fileno(), start, min(chunk_size, size - start))
            remote.put_chunk(upload_id, number, body, destination, size)
            on_chunk(number, len(body))
    remote.finish_upload(upload_id, destination, size)


def verify(remote: Remote, destination: str, size: int, sha256: str) -> str | None:
    """None when the server holds exactly these bytes (downloaded and hashed: a checksum the
    client itself sent would prove nothing), else what differs."""
    digest, got = hashlib.sha256(), 0
    try:
        for block in remote.stream(destination):
            digest.update(block)
            got += len(block)
    except RemoteError as exc:
        if not exc.transient and "404" in str(exc):
            return "the server does not hold the object"
        raise
    if got != size:
        return f"the server holds {got} bytes, {size} were sent"
    if digest.hexdigest() != sha256:
        return "the server's copy has another sha256 than the ciphertext sent"
    return None
