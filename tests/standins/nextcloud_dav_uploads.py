"""Uploads on the STAND-IN Nextcloud server (not Nextcloud): PUT of a file or a chunk, and the
assembly of chunked uploads (v1 and v2) by `MOVE .../<upload id>/.file`, as Nextcloud's
developer manual describes them (WebDAV "basic": OC-FileId, OC-Etag, OC-Checksum, X-Hash,
X-OC-Mtime, OC-Total-Length; "chunking": v2 chunk names and sizes). A body is written to a
temporary file and moved into place only once complete, so a cut-off upload leaves nothing."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from wsgidav import util

from tests.standins.nextcloud_dav_props import NextcloudProvider
from tests.standins.nextcloud_dav_state import Counters, DroppedConnection, Faults, FileIds

Environ = dict[str, Any]
StartResponse = Callable[..., Any]
READ_SIZE = 1 << 20
MIN_V2_CHUNK = 5 * 1024 * 1024


def respond(
    start: StartResponse, status: str, body: bytes = b"", ctype: str = "text/plain", **extra: str
) -> list[bytes]:
    headers = [("Content-Type", ctype), ("Content-Length", str(len(body)))]
    headers += [(k.replace("_", "-"), v) for k, v in extra.items()]
    start(status, headers)
    return [body]


class Uploads:
    def __init__(
        self,
        files: NextcloudProvider,
        uploads: NextcloudProvider,
        tmp: Path,
        state: tuple[FileIds, Faults, Counters],
    ) -> None:
        self.files, self.uploads, self.tmp = files, uploads, tmp
        self.ids, self.faults, self.counters = state
        self.v2_destinations: dict[str, str] = {}
        self.min_v2_chunk = MIN_V2_CHUNK

    def id_headers(self, fs_path: Path) -> list[tuple[str, str]]:
        headers = [("OC-FileId", self.ids.oc_id(self.ids.fileid(fs_path)))]
        if fs_path.is_file():
            etag = f'"{util.get_file_etag(str(fs_path))}"'
            headers += [("OC-Etag", etag), ("ETag", etag)]
        return headers

    def put(
        self, environ: Environ, start: StartResponse, url_path: str, rel: str, upload_id: str | None
    ) -> list[bytes]:
        """PUT of a whole file (in the user's files) or of a chunk (upload_id's folder)."""
        provider = self.files if upload_id is None else self.uploads
        fs_path = provider.fs_path(rel)
        if not fs_path.parent.is_dir() or fs_path.is_dir():
            return respond(
                start, "409 Conflict", b"stand-in: no parent folder, or a folder there\n"
            )
        if upload_id in self.v2_destinations and not _v2_chunk_name(fs_path.name):
            return respond(start, "400 Bad Request", b"stand-in: v2 chunks are named 1-10000\n")
        wanted = [a.strip().lower() for a in environ.get("HTTP_X_HASH", "").split(",")]
        hashers = {a: hashlib.new(a) for a in wanted if a in ("md5", "sha1", "sha256")}
        length = int(environ["CONTENT_LENGTH"]) if environ.get("CONTENT_LENGTH") else None
        drop_at = self.faults.take_drop(url_path)
        fd, tmp_name = tempfile.mkstemp(dir=self.tmp)
        tmp = Path(tmp_name)
        received = 0
        try:
            with open(fd, "wb") as out:
                stream = environ["wsgi.input"]
                while length is None or received < length:
                    want = READ_SIZE if length is None else min(READ_SIZE, length - received)
                    if drop_at is not None:
                        want = min(want, drop_at - received)
                    buf = stream.read(want) if want > 0 else b""
                    self.counters.received(url_path, upload_id, len(buf))
                    if drop_at is not None and received + len(buf) >= drop_at:
                        raise DroppedConnection()
                    if not buf:
                        break
                    out.write(buf)
                    for h in hashers.values():
                        h.update(buf)
                    received += len(buf)
            if length is not None and received < length:
                raise DroppedConnection()  # the client went away in the middle of the body
            hashes = {f"X-Hash-{a.upper()}": h.hexdigest() for a, h in hashers.items()}
            return self.place(environ, start, tmp, fs_path, hashes)
        finally:
            tmp.unlink(missing_ok=True)

    def place(
        self,
        environ: Environ,
        start: StartResponse,
        tmp: Path,
        fs_path: Path,
        extra: dict[str, str],
    ) -> list[bytes]:
        """Move a fully received file into place; it keeps the id of the file it replaces."""
        existed = fs_path.exists()
        self.ids.replaced(fs_path, tmp.stat().st_ino)
        tmp.replace(fs_path)
        headers = dict(extra)
        mtime = environ.get("HTTP_X_OC_MTIME", "")
        if mtime.isdigit():
            os.utime(fs_path, (int(mtime), int(mtime)))
            headers["X-OC-MTime"] = "accepted"
        if fs_path.is_relative_to(self.files.root):
            self.ids.set_checksum(self.ids.fileid(fs_path), environ.get("HTTP_OC_CHECKSUM"))
        status = "204 No Content" if existed else "201 Created"
        start(status, [("Content-Length", "0"), *self.id_headers(fs_path), *headers.items()])
        return [b""]

    def assemble(
        self, environ: Environ, start: StartResponse, upload_id: str, target: Path | None
    ) -> list[bytes]:
        """MOVE <upload id>/.file: the chunks, in the order of their names, become the file the
        Destination names; the upload folder goes."""
        upload_dir = self.uploads.fs_path("/" + upload_id)
        if not upload_dir.is_dir():
            return respond(start, "404 Not Found", b"stand-in: no such upload\n")
        if target is None or not target.parent.is_dir():
            return respond(start, "409 Conflict", b"stand-in: bad Destination\n")
        chunks = sorted(
            (p for p in upload_dir.iterdir() if p.name != ".file"),
            key=lambda p: (int(p.name) if p.name.isdigit() else 0, p.name),
        )
        sizes = [p.stat().st_size for p in chunks]
        if upload_id in self.v2_destinations and any(n < self.min_v2_chunk for n in sizes[:-1]):
            return respond(start, "400 Bad Request", b"stand-in: v2 chunks under 5 MiB\n")
        total = environ.get("HTTP_OC_TOTAL_LENGTH")
        if total is not None and int(total) != sum(sizes):
            message = f"Chunks on server do not sum up to {total} but to {sum(sizes)} bytes\n"
            return respond(start, "400 Bad Request", message.encode())
        fd, tmp_name = tempfile.mkstemp(dir=self.tmp)
        tmp = Path(tmp_name)
        try:
            with open(fd, "wb") as out:
                for chunk in chunks:
                    with chunk.open("rb") as source:
                        append(source.fileno(), out.fileno())
            answer = self.place(environ, start, tmp, target, {})
        finally:
            tmp.unlink(missing_ok=True)
        self.ids.forget(self.ids.forget_tree(upload_dir))
        shutil.rmtree(upload_dir)
        self.v2_destinations.pop(upload_id, None)
        return answer


def append(source: int, out: int) -> None:
    """The rest of `source` onto `out`, copied by the kernel (copy_file_range: no trip through
    this process, a reflink where the file system has them), as a server in C or Go would; a
    Python read/write loop made the stand-in's joining of a 1 GiB upload take 4 of the bench's
    11 s, a cost of this stand-in rather than of the client the bench measures."""
    while True:
        try:
            copied = os.copy_file_range(source, out, 1 << 30)
        except OSError:  # no copy_file_range across these two (older kernels, some file systems)
            copied = os.sendfile(out, source, None, 1 << 30)
        if copied == 0:
            return


def _v2_chunk_name(name: str) -> bool:
    return name.isdigit() and 1 <= int(name) <= 10000
