"""The STAND-IN Nextcloud server's state (not Nextcloud): file ids, stored checksums, the faults
it has been told to inject and the bytes it has received. Thread-safe: the server answers
requests on several threads while a test reads the counters or sets faults."""

from __future__ import annotations

import errno
import os
import secrets
import string
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

_ALNUM = string.ascii_lowercase + string.digits


class DroppedConnection(ConnectionResetError):
    """Raised to the HTTP server to close the client's connection without any answer
    (cheroot closes quietly on ECONNRESET): what a proxy or a crashed server does."""

    def __init__(self) -> None:
        super().__init__(errno.ECONNRESET, "stand-in dropped the connection (fault injected)")


@dataclass
class FileIds:
    """Nextcloud keeps a file's id across renames and overwrites and never reuses one. Here an
    id belongs to an inode (a rename keeps it); an overwrite hands the old id to the new inode;
    a delete through the server forgets the inodes, so a reused inode gets a fresh id."""

    instance_id: str = field(
        default_factory=lambda: "oc" + "".join(secrets.choice(_ALNUM) for _ in range(10))
    )
    _by_inode: dict[int, int] = field(default_factory=dict)
    _checksums: dict[int, str] = field(default_factory=dict)
    _next: int = 1
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def fileid(self, fs_path: Path) -> int:
        inode = fs_path.stat().st_ino
        with self._lock:
            if inode not in self._by_inode:
                self._by_inode[inode] = self._next
                self._next += 1
            return self._by_inode[inode]

    def oc_id(self, fileid: int) -> str:
        """`<padded-id><instance-id>`, as Nextcloud's OC-FileId and oc:id."""
        return f"{fileid:08d}{self.instance_id}"

    def replaced(self, old_fs_path: Path, new_inode: int) -> None:
        """`new_inode` is to stand where `old_fs_path` stands: it takes its id."""
        if not old_fs_path.exists():
            return
        old_inode = old_fs_path.stat().st_ino
        with self._lock:
            if old_inode in self._by_inode:
                self._by_inode[new_inode] = self._by_inode.pop(old_inode)

    def forget_tree(self, fs_path: Path) -> list[int]:
        """The inodes of fs_path and all under it (to forget once its DELETE succeeded)."""
        if not fs_path.exists():
            return []
        inodes = [fs_path.lstat().st_ino]
        for base, dirs, files in os.walk(fs_path):
            inodes += [(Path(base) / name).lstat().st_ino for name in [*dirs, *files]]
        return inodes

    def forget(self, inodes: list[int]) -> None:
        with self._lock:
            for inode in inodes:
                fileid = self._by_inode.pop(inode, None)
                if fileid is not None:
                    self._checksums.pop(fileid, None)

    def set_checksum(self, fileid: int, value: str | None) -> None:
        """OC-Checksum is stored as sent (Nextcloud does not validate it); a PUT without one
        clears it."""
        with self._lock:
            if value:
                self._checksums[fileid] = value
            else:
                self._checksums.pop(fileid, None)

    def checksum(self, fileid: int) -> str | None:
        with self._lock:
            return self._checksums.get(fileid)


@dataclass
class Faults:
    """What the stand-in has been told to do wrong."""

    fail_status: int = 503
    fail_until: float = 0.0
    fail_remaining: int = 0
    drop_after_bytes: int | None = None
    drop_path_contains: str = ""
    drop_times: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def fail(
        self, *, seconds: float | None = None, count: int | None = None, status: int = 503
    ) -> None:
        with self._lock:
            self.fail_status = status
            self.fail_until = time.monotonic() + seconds if seconds is not None else 0.0
            self.fail_remaining = count if count is not None else 0

    def take_failure(self) -> int | None:
        """The status to answer this request with, if it is to fail."""
        with self._lock:
            if time.monotonic() < self.fail_until:
                return self.fail_status
            if self.fail_remaining > 0:
                self.fail_remaining -= 1
                return self.fail_status
            return None

    def drop_after(self, nbytes: int, *, path_contains: str = "", times: int = 1) -> None:
        with self._lock:
            self.drop_after_bytes, self.drop_path_contains, self.drop_times = (
                nbytes,
                path_contains,
                times,
            )

    def take_drop(self, path: str) -> int | None:
        """How many body bytes of this upload to read before dropping the connection, if any."""
        with self._lock:
            if (
                self.drop_times <= 0
                or self.drop_after_bytes is None
                or self.drop_path_contains not in path
            ):
                return None
            self.drop_times -= 1
            return self.drop_after_bytes

    def clear(self) -> None:
        with self._lock:
            self.fail_until, self.fail_remaining, self.drop_times = 0.0, 0, 0


@dataclass
class Counters:
    """Body bytes received, per request path (below /remote.php/dav/) and per upload id, and
    every request's method, path and status."""

    by_path: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    by_upload: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    requests: list[tuple[str, str, int]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def received(self, path: str, upload_id: str | None, nbytes: int) -> None:
        with self._lock:
            self.by_path[path] += nbytes
            if upload_id is not None:
                self.by_upload[upload_id] += nbytes

    def request(self, method: str, path: str, status: int) -> None:
        with self._lock:
            self.requests.append((method, path, status))

    def total(self) -> int:
        with self._lock:
            return sum(self.by_path.values())
