"""One HTTPS server standing in for the self-hosted services: Gotify, ntfy and a Matrix
homeserver.

A stand-in, not those servers: it accepts what Apprise's plugins send (apprise/plugins/gotify.py,
ntfy.py, matrix/base.py), checks the credentials as the servers do, records every request and
answers as the plugins expect:

================  =========================================================  ================
host              request                                                    good answer
================  =========================================================  ================
gotify.lab.test   POST /message, JSON (title, message, priority, extras),    200 JSON
                  X-Gotify-Key: APP_TOKEN
ntfy.lab.test     POST /, JSON (topic, title, message), X-Markdown,          200 JSON
                  Authorization: Bearer ACCESS_TOKEN
matrix.lab.test   GET /.well-known/matrix/client (no delegation)             404
                  POST /_matrix/client/v3/login (m.login.password)           200 access token
                  POST /_matrix/client/v3/join/#ROOM:HS, Bearer              200 room_id
                  GET  …/rooms/ID/state/m.room.encryption (unencrypted)      404
                  PUT  …/rooms/ID/send/m.room.message/TXN, Bearer, JSON      200 event_id
                  POST …/keys/upload, …/logout                               200
================  =========================================================  ================

Wrong credentials get the server's refusal (401/403, with Matrix's ``errcode``); a service
named in ``outage`` answers every request with 503. Matrix events are kept per room and
de-duplicated by (access token, transaction id), as a homeserver does.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

from tests.standins.tls import TestCA

GOTIFY_HOST = "gotify.lab.test"
NTFY_HOST = "ntfy.lab.test"
MATRIX_HOST = "matrix.lab.test"
HOSTS = (GOTIFY_HOST, NTFY_HOST, MATRIX_HOST)
SERVICES = {GOTIFY_HOST: "gotify", NTFY_HOST: "ntfy", MATRIX_HOST: "matrix"}

_API = "/_matrix/client/v3"
_JOIN = re.compile(rf"^{_API}/join/([^/]+)$")
_SEND = re.compile(rf"^{_API}/rooms/([^/]+)/send/m\.room\.message/([^/]+)$")
_STATE = re.compile(rf"^{_API}/rooms/([^/]+)/state/m\.room\.encryption$")

Answer = tuple[int, dict[str, Any]]


@dataclass(frozen=True)
class Credentials:
    """What each stand-in account accepts (random per stand-in)."""

    gotify_token: str = field(default_factory=lambda: "A" + secrets.token_urlsafe(11)[:14])
    ntfy_token: str = field(default_factory=lambda: "tk_" + secrets.token_hex(14)[:29])
    matrix_user: str = "notifier"
    matrix_password: str = field(default_factory=lambda: secrets.token_urlsafe(18))
    #: The room alias's local part (``#ops:matrix.lab.test``) and the room's id.
    matrix_room: str = "ops"
    matrix_room_id: str = field(default_factory=lambda: f"!{secrets.token_hex(9)}:{MATRIX_HOST}")


@dataclass(frozen=True)
class Request:
    service: str
    method: str
    path: str
    headers: dict[str, str]
    body: Any  # parsed JSON, or the text
    status: int


@dataclass(frozen=True)
class MatrixEvent:
    room_id: str
    sender: str
    txn_id: str
    content: dict[str, Any]


class SelfHostedStandIns:
    """Start with ``start()``; its ``port`` is where the three names must resolve to."""

    def __init__(
        self,
        ca: TestCA,
        credentials: Credentials | None = None,
        bind: tuple[str, int] = ("127.0.0.1", 0),
    ) -> None:
        self.credentials = credentials or Credentials()
        self.requests: list[Request] = []
        #: Services answering 503 to everything (e.g. ``{"gotify"}``).
        self.outage: set[str] = set()
        self.events: list[MatrixEvent] = []
        #: Matrix access tokens issued by login and not logged out, to the user id.
        self.sessions: dict[str, str] = {}
        self.logins = 0
        self._txns: dict[tuple[str, str], str] = {}
        self._lock = threading.Lock()
        cert = ca.issue(list(HOSTS), stem="selfhosted")
        self.server = ThreadingHTTPServer(bind, _handler(self))
        self.server.daemon_threads = True
        self.server.socket = cert.server_context().wrap_socket(self.server.socket, server_side=True)
        self.port = int(self.server.server_address[1])

    def start(self) -> SelfHostedStandIns:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def url(self, host: str) -> str:
        """The URL a channel's ``url`` option names for ``host``."""
        return f"https://{host}:{self.port}"

    def resolver_table(self) -> dict[str, tuple[str, int]]:
        return {host: (str(self.server.server_address[0]), self.port) for host in HOSTS}

    def received(self, service: str, method: str = "POST") -> list[Request]:
        """The requests of one service (and method) the stand-in accepted."""
        with self._lock:
            return [
                r
                for r in self.requests
                if r.service == service and r.method == method and r.status < 400
            ]

    def room_events(self) -> list[MatrixEvent]:
        with self._lock:
            return list(self.events)

    def answer(
        self, method: str, host: str, path: str, headers: dict[str, str], body: Any
    ) -> Answer:
        service = SERVICES.get(host)
        if service == "gotify":
            return self._gotify(method, path, headers, body)
        if service == "ntfy":
            return self._ntfy(method, path, headers, body)
        if service == "matrix":
            return self._matrix(method, path, headers, body)
        return 404, {"error": "not a stand-in host"}

    def _gotify(self, method: str, path: str, headers: dict[str, str], body: Any) -> Answer:
        if method != "POST" or path.rstrip("/") != "/message":
            return 404, {"error": "Not Found", "errorCode": 404}
        if headers.get("x-gotify-key") != self.credentials.gotify_token:
            return 401, {
                "error": "Unauthorized",
                "errorCode": 401,
                "errorDescription": "you need to provide a valid access token or user "
                "credentials to access this api",
            }
        if not isinstance(body, dict) or not body.get("message"):
            return 400, {"error": "Bad Request", "errorCode": 400}
        return 200, {
            "id": len(self.received("gotify")) + 1,
            "appid": 1,
            "message": body["message"],
            "title": body.get("title", ""),
            "priority": body.get("priority", 0),
        }

    def _ntfy(self, method: str, path: str, headers: dict[str, str], body: Any) -> Answer:
        if method != "POST" or path not in ("", "/"):
            return 404, {"code": 40401, "http": 404, "error": "page not found"}
        if headers.get("authorization") != f"Bearer {self.credentials.ntfy_token}":
            return 401, {"code": 40101, "http": 401, "error": "unauthorized"}
        if not isinstance(body, dict) or not body.get("topic"):
            return 400, {"code": 40001, "http": 400, "error": "invalid request"}
        return 200, {
            "id": secrets.token_hex(6),
            "event": "message",
            "topic": body["topic"],
            "title": body.get("title", ""),
            "message": body.get("message", ""),
        }

    def _matrix(self, method: str, path: str, headers: dict[str, str], body: Any) -> Answer:
        c = self.credentials
        if path == "/.well-known/matrix/client":
            return 404, {"errcode": "M_NOT_FOUND", "error": "No delegation"}
        if path == "/_matrix/client/versions":
            return 200, {"versions": ["v1.11"]}
        if method == "POST" and path == f"{_API}/login":
            ident = body.get("identifier", {}) if isinstance(body, dict) else {}
            user = ident.get("user") if isinstance(ident, dict) else None
            if user not in (c.matrix_user, f"@{c.matrix_user}:{MATRIX_HOST}") or (
                body.get("password") != c.matrix_password
            ):
                return 403, {"errcode": "M_FORBIDDEN", "error": "Invalid username or password"}
            token = "syt_" + secrets.token_urlsafe(24)
            me = f"@{c.matrix_user}:{MATRIX_HOST}"
            with self._lock:
                self.sessions[token] = me
                self.logins += 1
            return 200, {"access_token": token, "user_id": me, "device_id": "APPLIANCE"}
        bearer = headers.get("authorization", "").removeprefix("Bearer ")
        with self._lock:
            user_id = self.sessions.get(bearer)
        if user_id is None:
            return 401, {"errcode": "M_UNKNOWN_TOKEN", "error": "Invalid access token"}
        if method == "POST" and path == f"{_API}/logout":
            with self._lock:
                self.sessions.pop(bearer, None)
            return 200, {}
        if method == "GET" and path == f"{_API}/account/whoami":
            return 200, {"user_id": user_id, "device_id": "APPLIANCE"}
        if method == "POST" and path == f"{_API}/keys/upload":
            return 200, {"one_time_key_counts": {}}
        if method == "POST" and (m := _JOIN.match(path)):
            target = unquote(m.group(1))
            if target in (f"#{c.matrix_room}:{MATRIX_HOST}", c.matrix_room_id):
                return 200, {"room_id": c.matrix_room_id}
            return 404, {"errcode": "M_NOT_FOUND", "error": f"Room alias {target} not found"}
        if method == "GET" and (m := _STATE.match(path)):
            return 404, {"errcode": "M_NOT_FOUND", "error": "Event not found."}
        if method == "PUT" and (m := _SEND.match(path)):
            room_id, txn = unquote(m.group(1)), unquote(m.group(2))
            if room_id != c.matrix_room_id:
                return 403, {"errcode": "M_FORBIDDEN", "error": "User not in room"}
            if not isinstance(body, dict) or "msgtype" not in body:
                return 400, {"errcode": "M_BAD_JSON", "error": "msgtype missing"}
            with self._lock:
                # A homeserver answers a retried transaction with its first event.
                event_id = self._txns.get((bearer, txn))
                if event_id is None:
                    event_id = "$" + secrets.token_urlsafe(16)
                    self._txns[(bearer, txn)] = event_id
                    self.events.append(MatrixEvent(room_id, user_id, txn, body))
            return 200, {"event_id": event_id}
        return 404, {"errcode": "M_UNRECOGNIZED", "error": "Unrecognized request"}

    def record(self, request: Request) -> None:
        with self._lock:
            self.requests.append(request)


def _handler(standins: SelfHostedStandIns) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def _serve(self) -> None:
            raw = self.rfile.read(int(self.headers.get("content-length", 0)))
            host = (self.headers.get("host") or "").split(":")[0].lower()
            path = urlsplit(self.path).path
            headers = {k.lower(): v for k, v in self.headers.items()}
            body = _json_or_text(raw)
            service = SERVICES.get(host, "unknown")
            if service in standins.outage:
                status, answer = 503, {"error": "stand-in outage"}
            else:
                try:
                    status, answer = standins.answer(self.command, host, path, headers, body)
                except (AttributeError, TypeError):
                    status, answer = 400, {"error": "bad body"}
            standins.record(Request(service, self.command, path, headers, body, status))
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


def _json_or_text(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode(errors="replace")
