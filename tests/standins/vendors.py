"""One HTTPS server standing in for Slack, Microsoft Teams, PagerDuty and Twilio (SMS).

A stand-in, not the vendors: it accepts what Apprise's plugins send (apprise/plugins/slack.py,
workflows.py, pagerduty.py, twilio.py), checks the credentials the way the vendor would, records
every request and answers as the plugin expects:

=============================  ==============================================  ================
host                           request                                         good answer
=============================  ==============================================  ================
hooks.slack.com                POST /services/A/B/C, JSON                      200 ``ok``
*.logic.azure.com (Teams       POST /workflows/ID/triggers/manual/paths/       202
Workflows webhook)             invoke?api-version=…&sp=…&sv=1.0&sig=SIG, JSON
events[.eu].pagerduty.com      POST /v2/enqueue, JSON (routing_key),           202 JSON
                               Authorization: Token token=API_KEY
api.twilio.com                 POST /2010-04-01/Accounts/SID/Messages.json,    201 JSON
                               form (To, From, Body), Basic SID:AUTH_TOKEN
=============================  ==============================================  ================

Wrong credentials get the vendor's refusal (404/401/400); ``outage`` makes every answer a 503.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.standins.tls import TestCA

SLACK_HOST = "hooks.slack.com"
TEAMS_HOST = "prod-00.westeurope.logic.azure.com"
PAGERDUTY_HOSTS = ("events.pagerduty.com", "events.eu.pagerduty.com")
TWILIO_HOST = "api.twilio.com"
HOSTS = (SLACK_HOST, TEAMS_HOST, *PAGERDUTY_HOSTS, TWILIO_HOST)

_SLACK = re.compile(r"^/services/([A-Z0-9]+)/([A-Z0-9]+)/([A-Za-z0-9]+)$")
_TEAMS = re.compile(r"^/workflows/([A-Za-z0-9_-]+)/triggers/manual/paths/invoke$")
_TWILIO = re.compile(r"^/2010-04-01/Accounts/(AC[a-f0-9]+)/Messages\.json$")


@dataclass(frozen=True)
class Credentials:
    """What each vendor account of the stand-in accepts (random per stand-in)."""

    slack_path: str = field(
        default_factory=lambda: f"T{_hex(4)}/B{_hex(4)}/{secrets.token_hex(12)}".upper()
    )
    teams_workflow: str = field(default_factory=lambda: secrets.token_hex(16))
    teams_sig: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    pagerduty_routing_key: str = field(default_factory=lambda: secrets.token_hex(16))
    pagerduty_api_key: str = field(default_factory=lambda: secrets.token_hex(10))
    twilio_sid: str = field(default_factory=lambda: "AC" + secrets.token_hex(16))
    twilio_token: str = field(default_factory=lambda: secrets.token_hex(16))

    @property
    def slack_url(self) -> str:
        return f"https://{SLACK_HOST}/services/{self.slack_path}"

    @property
    def teams_url(self) -> str:
        return (
            f"https://{TEAMS_HOST}:443/workflows/{self.teams_workflow}/triggers/manual/paths/"
            f"invoke?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0"
            f"&sig={self.teams_sig}"
        )


def _hex(n: int) -> str:
    return secrets.token_hex(n)


@dataclass(frozen=True)
class VendorRequest:
    vendor: str
    host: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any  # parsed JSON, or the form as a dict of lists (Twilio)
    status: int


class VendorStandIns:
    """Start with ``start()``; its ``port`` is where vendor names must resolve to."""

    def __init__(
        self,
        ca: TestCA,
        credentials: Credentials | None = None,
        bind: tuple[str, int] = ("127.0.0.1", 0),
    ) -> None:
        """``bind``: where to listen (a lab's bridge address and 443 for the lab host)."""
        self.credentials = credentials or Credentials()
        self.requests: list[VendorRequest] = []
        self.outage = False
        self._lock = threading.Lock()
        cert = ca.issue(list(HOSTS), stem="vendors")
        handler = _handler(self)
        self.server = ThreadingHTTPServer(bind, handler)
        self.server.daemon_threads = True
        self.server.socket = cert.server_context().wrap_socket(self.server.socket, server_side=True)
        self.port = int(self.server.server_address[1])

    def start(self) -> VendorStandIns:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def resolver_table(self) -> dict[str, tuple[str, int]]:
        return {host: (str(self.server.server_address[0]), self.port) for host in HOSTS}

    def received(self, vendor: str) -> list[VendorRequest]:
        """The requests of one vendor the stand-in accepted."""
        with self._lock:
            return [r for r in self.requests if r.vendor == vendor and r.status < 400]

    def answer(
        self, host: str, path: str, query: dict[str, list[str]], headers: dict[str, str], raw: bytes
    ) -> tuple[str, int, bytes, str]:
        """(vendor, status, body, content type) for one POST; pure apart from credentials."""
        c = self.credentials
        if host == SLACK_HOST and (m := _SLACK.match(path)):
            body = json.loads(raw)
            ok = "/".join(m.groups()) == c.slack_path and isinstance(body, dict)
            return "slack", 200 if ok else 404, b"ok" if ok else b"no_service", "text/plain"
        if host.endswith(".logic.azure.com") and (m := _TEAMS.match(path)):
            body = json.loads(raw)
            sig_ok = query.get("sig") == [c.teams_sig] and m.group(1) == c.teams_workflow
            shaped = isinstance(body, dict) and body.get("type") == "message"
            status = 202 if sig_ok and shaped else 401 if not sig_ok else 400
            return "teams", status, b"", "text/plain"
        if host in PAGERDUTY_HOSTS and path == "/v2/enqueue":
            body = json.loads(raw)
            ok = (
                body.get("routing_key") == c.pagerduty_routing_key
                and headers.get("authorization") == f"Token token={c.pagerduty_api_key}"
                and body.get("event_action") in ("trigger", "acknowledge", "resolve")
            )
            answer = (
                {"status": "success", "message": "Event processed",
                 "dedup_key": body.get("dedup_key") or secrets.token_hex(16)}
                if ok else
                {"status": "invalid event", "message": "Event object is invalid",
                 "errors": ["Invalid routing key"]}
            )  # fmt: skip
            return "pagerduty", 202 if ok else 400, json.dumps(answer).encode(), "application/json"
        if host == TWILIO_HOST and (m := _TWILIO.match(path)):
            expected = base64.b64encode(f"{c.twilio_sid}:{c.twilio_token}".encode()).decode()
            ok = m.group(1) == c.twilio_sid and headers.get("authorization") == f"Basic {expected}"
            form = parse_qs(raw.decode())
            if not ok:
                answer = {"code": 20003, "message": "Authenticate", "status": 401}
                return "twilio", 401, json.dumps(answer).encode(), "application/json"
            answer = {
                "sid": "SM" + secrets.token_hex(16), "status": "queued",
                "to": form.get("To", [""])[0], "from": form.get("From", [""])[0],
                "body": form.get("Body", [""])[0],
            }  # fmt: skip
            return "twilio", 201, json.dumps(answer).encode(), "application/json"
        return "unknown", 404, b"not a stand-in route", "text/plain"

    def record(self, request: VendorRequest) -> None:
        with self._lock:
            self.requests.append(request)


def _handler(standins: VendorStandIns) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("content-length", 0)))
            host = (self.headers.get("host") or "").split(":")[0].lower()
            parts = urlsplit(self.path)
            query = parse_qs(parts.query)
            headers = {k.lower(): v for k, v in self.headers.items()}
            try:
                vendor, status, body, ctype = standins.answer(host, parts.path, query, headers, raw)
            except (ValueError, AttributeError):
                vendor, status, body, ctype = "unknown", 400, b"bad body", "text/plain"
            if standins.outage:
                status, body, ctype = 503, b"stand-in outage", "text/plain"
            parsed: Any = parse_qs(raw.decode()) if vendor == "twilio" else _json_or_text(raw)
            standins.record(VendorRequest(vendor, host, parts.path, query, headers, parsed, status))
            self.send_response(status)
            self.send_header("content-type", ctype)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


def _json_or_text(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode(errors="replace")
