"""The STAND-IN Nextcloud server's WSGI application (not Nextcloud): HTTP Basic auth, the
injected faults, `/status.php` and the two OCS routes, and around WsgiDAV what Nextcloud does
its own way: uploads (nextcloud_dav_uploads), SEARCH, and OC-FileId on MKCOL, MOVE and COPY.
Everything else (GET with ranges, PROPFIND, MKCOL, DELETE, MOVE, COPY, PROPPATCH, LOCK) is
WsgiDAV's."""

from __future__ import annotations

import base64
import binascii
import hmac
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from wsgidav import util, xml_tools
from wsgidav.wsgidav_app import WsgiDAVApp

from tests.standins.nextcloud_dav_props import NextcloudProvider
from tests.standins.nextcloud_dav_search import SearchRequest, matches, walk_scope
from tests.standins.nextcloud_dav_state import Counters, Faults, FileIds
from tests.standins.nextcloud_dav_uploads import Environ, StartResponse, Uploads, respond

BANNER = "Nextcloud-compatible stand-in for tests (not Nextcloud)"
VERSION = {"major": 30, "minor": 0, "micro": 0, "string": "30.0.0", "extendedSupport": False}
JSON = "application/json"


class NextcloudApp:
    def __init__(
        self, root: Path, user: str, password: str, state: tuple[FileIds, Faults, Counters]
    ) -> None:
        self.user, self._password = user, password
        self.ids, self.faults, self.counters = state
        self.files_prefix = f"/remote.php/dav/files/{user}"
        self.uploads_prefix = f"/remote.php/dav/uploads/{user}"
        for sub in (f"files/{user}", f"uploads/{user}", "tmp"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        self.files = NextcloudProvider(str(root / "files" / user), self.ids)
        self.uploads = NextcloudProvider(str(root / "uploads" / user), self.ids)
        self.up = Uploads(self.files, self.uploads, root / "tmp", state)
        mapping = {self.files_prefix: self.files, self.uploads_prefix: self.uploads}
        self.dav = WsgiDAVApp(
            {
                "provider_mapping": mapping,
                "http_authenticator": {"accept_digest": False, "default_to_digest": False},
                "simple_dc": {"user_mapping": {"*": True}},  # auth is checked before WsgiDAV
                "dir_browser": {"enable": False},
                "verbose": 1,
                "logging": {"enable": False},
            }
        )

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        method, path = environ["REQUEST_METHOD"], unquote(environ.get("PATH_INFO", ""))

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            self.counters.request(method, path, int(status.split()[0]))
            return start_response(status, [*headers, ("X-Stand-In", BANNER)], exc_info)

        if path == "/status.php":
            status = {"installed": True, "maintenance": False, "version": "30.0.0.0"}
            status |= {"versionstring": "30.0.0", "productname": BANNER}
            return respond(start, "200 OK", json.dumps(status).encode(), JSON)
        failure = self.faults.take_failure()
        if failure is not None:
            body = b"stand-in: injected failure\n"
            return respond(start, f"{failure} Injected Failure", body, Retry_After="1")
        if not self._authorised(environ):
            challenge = 'Basic realm="Nextcloud", charset="UTF-8"'
            return respond(start, "401 Unauthorized", WWW_Authenticate=challenge)
        if path.startswith(("/ocs/v1.php/", "/ocs/v2.php/")):
            return self._ocs(path, start)
        if method == "SEARCH" and path.rstrip("/") == "/remote.php/dav":
            return self._search(environ, start)
        if path.startswith(self.files_prefix + "/"):
            rel = path[len(self.files_prefix) :]
            if method == "PUT":
                return self.up.put(environ, start, path, rel, None)
            return self._dav(environ, start, method, self.files, rel, None)
        if path.startswith(self.uploads_prefix + "/"):
            rel = path[len(self.uploads_prefix) :]
            upload_id = rel.strip("/").split("/")[0]
            if method == "PUT":
                return self.up.put(environ, start, path, rel, upload_id)
            if method == "MOVE" and rel.rstrip("/").endswith("/.file"):
                return self.up.assemble(environ, start, upload_id, self._destination(environ))
            return self._dav(environ, start, method, self.uploads, rel, upload_id)
        return self.dav(environ, start)

    def _authorised(self, environ: Environ) -> bool:
        header = environ.get("HTTP_AUTHORIZATION", "")
        if not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except (ValueError, binascii.Error):
            return False
        same_user = hmac.compare_digest(user.encode(), self.user.encode())
        return hmac.compare_digest(password.encode(), self._password.encode()) and same_user

    def _ocs(self, path: str, start: StartResponse) -> list[bytes]:
        route = path.split(".php", 1)[1].rstrip("/")
        data: dict[str, Any]
        if route == "/cloud/user":
            data = {"id": self.user, "display-name": self.user, "enabled": True, "email": None}
        elif route == "/cloud/capabilities":
            caps = {
                "core": {"pollinterval": 60, "webdav-root": "remote.php/webdav"},
                "dav": {"chunking": "1.0"},
                "files": {"bigfilechunking": True, "undelete": False, "versioning": False},
                "theming": {"name": BANNER},
            }
            data = {"version": VERSION, "capabilities": caps}
        else:
            meta = {"status": "failure", "statuscode": 998, "message": "stand-in: no such route"}
            body = json.dumps({"ocs": {"meta": meta, "data": []}}).encode()
            return respond(start, "404 Not Found", body, JSON)
        code = 200 if path.startswith("/ocs/v2.php/") else 100
        meta = {"status": "ok", "statuscode": code, "message": "OK"}
        return respond(
            start, "200 OK", json.dumps({"ocs": {"meta": meta, "data": data}}).encode(), JSON
        )

    def _dav(
        self,
        environ: Environ,
        start: StartResponse,
        method: str,
        provider: NextcloudProvider,
        rel: str,
        upload_id: str | None,
    ) -> Iterable[bytes]:
        """WsgiDAV answers; OC-FileId is added to what MKCOL, MOVE and COPY made, and the ids
        of what DELETE removed are forgotten."""
        target: Path | None = None
        inodes: list[int] = []
        if method == "MKCOL":
            target = provider.fs_path(rel)
        elif method in ("MOVE", "COPY"):
            target = self._destination(environ)
        elif method == "DELETE":
            inodes = self.ids.forget_tree(provider.fs_path(rel))

        def decorate(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            if status.startswith("2"):
                if target is not None and target.exists():
                    headers = [*headers, *self.up.id_headers(target)]
                if method == "DELETE":
                    self.ids.forget(inodes)
                    if upload_id is not None and rel.strip("/") == upload_id:
                        self.up.v2_destinations.pop(upload_id, None)
                if method == "MKCOL" and upload_id is not None and environ.get("HTTP_DESTINATION"):
                    self.up.v2_destinations[upload_id] = environ["HTTP_DESTINATION"]
            return start(status, headers, exc_info)

        return self.dav(environ, decorate)

    def _destination(self, environ: Environ) -> Path | None:
        """The file system path a Destination header names in the user's files, if it does."""
        dest = unquote(urlsplit(environ.get("HTTP_DESTINATION", "")).path)
        if not dest.startswith(self.files_prefix + "/"):
            return None
        return self.files.fs_path(dest[len(self.files_prefix) :])

    def _search(self, environ: Environ, start: StartResponse) -> list[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        try:
            request = SearchRequest(environ["wsgi.input"].read(length))
        except (ValueError, SyntaxError) as error:
            return respond(start, "400 Bad Request", f"stand-in SEARCH: {error}\n".encode())
        scope = "/" + request.href.strip("/")
        user_root = f"/files/{self.user}"
        if scope != user_root and not scope.startswith(user_root + "/"):
            return respond(start, "404 Not Found", b"stand-in SEARCH: not the user's files\n")
        root = self.files.fs_path(scope[len(user_root) :] or "/")
        multistatus = xml_tools.make_multistatus_el()
        env = {"wsgidav.provider": self.files, "wsgidav.config": self.dav.config}
        env["REQUEST_METHOD"] = "SEARCH"
        try:
            for fs_path in walk_scope(root, request.depth):
                if not matches(request.where, fs_path, self.ids):
                    continue
                rel = self.files.resource_path(fs_path)
                resource = self.files.get_resource_inst(rel, env)
                slash = "/" if fs_path.is_dir() and rel != "/" else ""
                props = resource.get_properties("named", name_list=request.select)
                util.add_property_response(
                    multistatus, quote(self.files_prefix + rel) + slash, props
                )
        except ValueError as error:
            return respond(start, "400 Bad Request", f"stand-in SEARCH: {error}\n".encode())
        body = xml_tools.xml_to_bytes(multistatus)
        return respond(start, "207 Multi-Status", body, "application/xml; charset=utf-8")
