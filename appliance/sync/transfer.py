"""Resumable chunked upload of a spooled ciphertext, and its verification on the server."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

from appliance.sync.remote import Remote, RemoteError


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
        source.seek(kept * chunk_size)
        for number in range(kept + 1, chunk_count(size, chunk_size) + 1):
            data = source.read(chunk_size)
            remote.put_chunk(upload_id, number, data, destination, size)
            on_chunk(number, len(data))
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
