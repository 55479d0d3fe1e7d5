"""The sync format without a server: age streams that Debian's `age` opens, manifest entries,
safe restore paths."""

from __future__ import annotations

import hashlib
import io
import os
import resource
import subprocess
from pathlib import Path

import pytest

from appliance.sync import crypto, manifest


def test_a_sealed_file_opens_with_debians_age_to_the_original_bytes(tmp_path: Path) -> None:
    operator = tmp_path / "operator.key"
    subprocess.run(["age-keygen", "-o", str(operator)], check=True, capture_output=True)
    recipient = subprocess.run(
        ["age-keygen", "-y", str(operator)], check=True, capture_output=True, text=True
    ).stdout.strip()
    appliance = crypto.new_identity()
    source = tmp_path / "doc.bin"
    source.write_bytes(os.urandom(3 * 65536 + 17))  # several STREAM chunks and a short one
    target = tmp_path / "doc.age"

    sealed = crypto.encrypt_file(source, target, [crypto.recipient_of(appliance), recipient])

    plain = subprocess.run(
        ["age", "-d", "-i", str(operator), str(target)], check=True, capture_output=True
    ).stdout
    assert hashlib.sha256(plain).hexdigest() == sealed.sha256
    assert sealed.sha256 == hashlib.sha256(source.read_bytes()).hexdigest()
    assert sealed.ciphertext_sha256 == hashlib.sha256(target.read_bytes()).hexdigest()
    assert sealed.ciphertext_size == target.stat().st_size
    assert crypto.decrypt_bytes(target.read_bytes(), [appliance]) == source.read_bytes()
    assert not target.with_name("doc.age.partial").exists()


def test_tampered_truncated_or_foreign_ciphertext_is_refused() -> None:
    identity = crypto.new_identity()
    sealed = crypto.encrypt_bytes(b"x" * 100_000, [crypto.recipient_of(identity)])
    flipped = bytearray(sealed)
    flipped[-500] ^= 1
    for bad in (bytes(flipped), sealed[:-10]):
        with pytest.raises(crypto.SyncCryptoError):
            crypto.decrypt_bytes(bad, [identity])
    with pytest.raises(crypto.SyncCryptoError):
        crypto.decrypt_bytes(sealed, [crypto.new_identity()])
    with pytest.raises(crypto.SyncCryptoError):
        crypto.encrypt_bytes(b"x", [])
    with pytest.raises(crypto.SyncCryptoError):
        crypto.recipient_of("AGE-SECRET-KEY-1NOTAKEY")


class _Zeros(io.RawIOBase):
    def __init__(self, size: int) -> None:
        self.left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        n = min(len(buffer), self.left)
        buffer[:n] = bytes(n)
        self.left -= n
        return n


class _Discard(io.RawIOBase):
    def writable(self) -> bool:
        return True

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        return len(data)


def test_encryption_streams_in_bounded_memory() -> None:
    size = 512 * 1024 * 1024
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    recipient = crypto.recipient_of(crypto.new_identity())
    sealed = crypto.encrypt_stream(_Zeros(size), _Discard(), [recipient])
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert sealed.size == size
    assert sealed.ciphertext_size > size  # headers and 16-byte tags per 64 KiB chunk
    assert grown_kib < 64 * 1024, f"peak RSS grew {grown_kib} KiB for a 512 MiB stream"


def entry(object_id: str, path: str, synced_at: float) -> manifest.Entry:
    return manifest.Entry(object_id, path, 3, "ab" * 32, 1.5, synced_at, 200, "cd" * 32)


def test_manifest_entries_round_trip_and_the_newest_version_wins() -> None:
    a, b, c = (manifest.new_object_id() for _ in range(3))
    assert all(manifest.is_object_id(x) for x in (a, b, c)) and len({a, b, c}) == 3
    old, new, other = entry(a, "/d/x.pdf", 1.0), entry(b, "/d/x.pdf", 2.0), entry(c, "/y", 1.0)
    assert manifest.Entry.from_json(old.to_json()) == old
    assert manifest.latest([new, other, old]) == {"/d/x.pdf": new, "/y": other}
    with pytest.raises(manifest.ManifestError):
        manifest.Entry.from_json(b'{"format": "other"}')
    with pytest.raises(manifest.ManifestError):
        manifest.Entry.from_json(entry("../x", "/y", 1.0).to_json())


def test_restore_paths_stay_inside_the_target() -> None:
    assert str(manifest.restore_target("/r", "/srv/docs/a.pdf")) == "/r/srv/docs/a.pdf"
    for bad in ("/srv/../../etc/passwd", "", "/"):
        with pytest.raises(manifest.ManifestError):
            manifest.restore_target("/r", bad)


class _Broken(io.RawIOBase):
    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        raise ConnectionResetError("the download broke off")


def test_a_source_that_breaks_is_its_own_error_not_a_decryption_error() -> None:
    identity = crypto.new_identity()
    with pytest.raises(ConnectionResetError, match="broke off"):
        crypto.decrypt_stream(_Broken(), io.BytesIO(), [identity])
    with pytest.raises(ConnectionResetError, match="broke off"):
        crypto.encrypt_stream(_Broken(), io.BytesIO(), [crypto.recipient_of(identity)])


class _BreaksAfter(io.RawIOBase):
    """Gives ``size`` random bytes, then fails: the error comes from the reading thread."""

    def __init__(self, size: int) -> None:
        self.data = io.BytesIO(os.urandom(size))

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        n = self.data.readinto(buffer)
        if not n:
            raise ConnectionResetError("the source broke off")
        return n


def test_reading_ahead_in_a_thread_seals_the_same_plaintext_and_passes_its_errors(
    tmp_path: Path,
) -> None:
    identity = crypto.new_identity()
    plain = os.urandom(5 * 1024 * 1024 + 123)  # blocks of 1 MiB and a short one
    sink = io.BytesIO()
    sealed = crypto.encrypt_stream(io.BytesIO(plain), sink, [crypto.recipient_of(identity)],
                                   read_ahead=True, hash_output=False)  # fmt: skip
    assert sealed.size == len(plain) and sealed.sha256 == hashlib.sha256(plain).hexdigest()
    assert sealed.ciphertext_size == len(sink.getvalue()) and sealed.ciphertext_sha256 == ""
    key = tmp_path / "key"
    key.write_text(identity + "\n")
    opened = subprocess.run(["age", "-d", "-i", str(key)], input=sink.getvalue(),
                            check=True, capture_output=True).stdout  # fmt: skip
    assert opened == plain
    with pytest.raises(ConnectionResetError, match="broke off"):
        crypto.encrypt_stream(_BreaksAfter(3 * 1024 * 1024), io.BytesIO(),
                              [crypto.recipient_of(identity)], read_ahead=True)  # fmt: skip
