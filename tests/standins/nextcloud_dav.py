"""A STAND-IN for a Nextcloud server, for tests. It is NOT Nextcloud.

No Nextcloud server can be installed here (no registry reachable from this machine carries
one), so the sync engine and its benchmark talk to this: WsgiDAV (on cheroot) serving a temp
folder, plus what nc-py-api 0.30.3 and rclone's `nextcloud` vendor need of a Nextcloud server
(../shared/TESTBED.md §6; Nextcloud's developer manual, WebDAV "basic" and "chunking"):

- HTTP Basic auth with one user and its app password; `GET /status.php` (no auth);
- OCS `GET /ocs/v1.php/cloud/user` and `/cloud/capabilities` (JSON; v2.php too);
- WebDAV under `/remote.php/dav/files/USER/`: PROPFIND answers use the literal prefixes `d:`,
  `oc:`, `nc:` and carry `oc:id`, `oc:fileid`, `oc:size`, `oc:permissions`, `oc:checksums`
  (what the client sent as `OC-Checksum`; like Nextcloud, never validated), `d:getetag`;
  PUT, MKCOL, MOVE and COPY answer with `OC-FileId` (and `OC-Etag`); a PUT with `X-Hash: md5`,
  `sha1` or `sha256` gets `X-Hash-MD5`/`-SHA1`/`-SHA256` of the bytes received; `X-OC-Mtime`;
- chunked upload v1 and v2 under `/remote.php/dav/uploads/USER/<id>` (v2 when the MKCOL carries
  `Destination`: chunks named 1-10000, each at least 5 MiB but the last), assembled by
  `MOVE <id>/.file` (checked against `OC-Total-Length` when given), then the folder removed;
  a PROPFIND of `<id>` lists the chunks held, as Nextcloud's does;
- a minimal `SEARCH` on `/remote.php/dav` (nc-py-api's find, by_id, move and copy).

Tests can make it fail (`fail`: every request, or the next N, answered 503 for a while),
drop the connection after N body bytes of an upload (`drop_after`), refuse connections
(`refuse` / `accept`: the port closes and reopens), and read what it received
(`bytes_received`, `upload_bytes`, `chunks`) to prove that a resumed upload did not send again
the chunks it already held. Its answers carry `X-Stand-In: ... (not Nextcloud)`.
"""

from __future__ import annotations

import argparse
import os
import secrets
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from cheroot import wsgi
from cheroot.ssl.builtin import BuiltinSSLAdapter

from tests.standins.nextcloud_dav_app import BANNER, NextcloudApp
from tests.standins.nextcloud_dav_state import Counters, Faults, FileIds
from tests.standins.tls import ServerCert


@dataclass
class NextcloudStandIn:
    """The stand-in server (not Nextcloud) on `host:port` (0: a free port), its files and
    upload folders under `root`."""

    root: Path
    user: str = "alice"
    password: str = field(default_factory=lambda: secrets.token_urlsafe(24), repr=False)
    host: str = "127.0.0.1"
    port: int = 0
    threads: int = 16
    tls: ServerCert | None = None  # HTTPS with a test CA's certificate (tests/standins/tls.py)

    def __post_init__(self) -> None:
        self.ids, self.faults, self.counters = FileIds(), Faults(), Counters()
        state = (self.ids, self.faults, self.counters)
        self.app = NextcloudApp(self.root, self.user, self.password, state)
        self._server: wsgi.Server | None = None
        self._thread: threading.Thread | None = None

    # --- life cycle ------------------------------------------------------------------------

    def start(self) -> NextcloudStandIn:
        if self.port == 0:
            # cheroot sets SO_REUSEADDR only on a given port; without it, the connections left
            # in TIME_WAIT by `refuse` would keep `accept` from listening on the port again.
            with socket.socket() as probe:
                probe.bind((self.host, 0))
                self.port = int(probe.getsockname()[1])
        server = wsgi.Server(
            (self.host, self.port), self.app, numthreads=self.threads, server_name=self.host
        )
        server.software = BANNER
        if self.tls is not None:
            server.ssl_adapter = BuiltinSSLAdapter(str(self.tls.cert_file), str(self.tls.key_file))
        server.prepare()
        self.port = int(server.bind_addr[1])
        self._server = server
        self._thread = threading.Thread(target=server.serve, name="nextcloud-standin", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = self._thread = None

    def refuse(self) -> None:
        """Close the port (connections are refused) and keep everything: `accept` reopens it."""
        self.stop()

    def accept(self) -> None:
        """Listen again on the same port, with the same files, ids and counters."""
        if self._server is None:
            self.start()

    @property
    def url(self) -> str:
        """The server's address, as nc-py-api's `nextcloud_url`."""
        scheme = "http" if self.tls is None else "https"
        return f"{scheme}://{self.host}:{self.port}"

    @property
    def dav_url(self) -> str:
        """The user's files over WebDAV (rclone's `url` for `vendor = nextcloud`)."""
        return f"{self.url}/remote.php/dav/files/{self.user}"

    @property
    def files_root(self) -> Path:
        """Where the user's files are, on disk."""
        return self.root / "files" / self.user

    # --- faults ----------------------------------------------------------------------------

    def fail(
        self, *, seconds: float | None = None, count: int | None = None, status: int = 503
    ) -> None:
        """Answer every request with `status` for `seconds`, or the next `count` requests."""
        self.faults.fail(seconds=seconds, count=count, status=status)

    def drop_after(self, nbytes: int, *, path_contains: str = "", times: int = 1) -> None:
        """Close the connection, without an answer, after reading `nbytes` of the body of the
        next `times` PUTs (whole files or chunks) whose path contains `path_contains`; what was
        read is not kept (a chunk cut short is not held)."""
        self.faults.drop_after(nbytes, path_contains=path_contains, times=times)

    def clear_faults(self) -> None:
        self.faults.clear()

    # --- what it received --------------------------------------------------------------------

    def bytes_received(self, path_contains: str = "") -> int:
        """Body bytes read from PUTs whose path (from /remote.php/dav/) contains the string."""
        with self.counters._lock:
            return sum(n for path, n in self.counters.by_path.items() if path_contains in path)

    def upload_bytes(self, upload_id: str) -> int:
        """Body bytes read for the chunks of one upload id, kept or not, in all attempts."""
        with self.counters._lock:
            return self.counters.by_upload.get(upload_id, 0)

    def upload_ids(self) -> list[str]:
        """The upload folders it holds now (not yet assembled nor deleted)."""
        return sorted(p.name for p in (self.root / "uploads" / self.user).iterdir())

    def chunks(self, upload_id: str) -> dict[str, int]:
        """The chunks it holds for an upload id (name -> size); {} if it holds no such upload."""
        folder = self.root / "uploads" / self.user / upload_id
        if not folder.is_dir():
            return {}
        return {p.name: p.stat().st_size for p in sorted(folder.iterdir()) if p.is_file()}

    def requests(self) -> list[tuple[str, str, int]]:
        """Every request answered so far: (method, path, status)."""
        with self.counters._lock:
            return list(self.counters.requests)


@contextmanager
def nextcloud_standin(
    tmp_path: Path, user: str = "alice", password: str | None = None, host: str = "127.0.0.1"
) -> Iterator[NextcloudStandIn]:
    """A started stand-in (not Nextcloud) serving a fresh folder under tmp_path; stopped after."""
    root = tmp_path / "nextcloud-standin"
    root.mkdir(parents=True, exist_ok=True)
    standin = NextcloudStandIn(
        root, user=user, password=password or secrets.token_urlsafe(24), host=host
    )
    standin.start()
    try:
        yield standin
    finally:
        standin.stop()


def main(argv: list[str] | None = None) -> None:
    """Run the stand-in in the foreground (the password from NEXTCLOUD_STANDIN_PASSWORD, so it
    is not on the command line)."""
    parser = argparse.ArgumentParser(description=BANNER)
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--user", default="alice")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    password = os.environ.get("NEXTCLOUD_STANDIN_PASSWORD") or secrets.token_urlsafe(24)
    args.root.mkdir(parents=True, exist_ok=True)
    standin = NextcloudStandIn(
        args.root, user=args.user, password=password, host=args.host, port=args.port
    ).start()
    print(f"{BANNER}: {standin.dav_url} (user {standin.user})", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
