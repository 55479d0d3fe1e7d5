"""Real receivers the notification tests deliver to through the real Apprise code.

- ``SmtpReceiver``: an aiosmtpd SMTP server (a real one, not a stand-in) on a free local
  port; it keeps every message and counts them by the ``X-Sovereign-Notification`` header the
  agent puts on each email (Apprise makes a new ``Message-ID`` for every attempt, so the
  notification's own id is the stable identity to count duplicates by).
- ``WebhookReceiver``: a small HTTP server for the generic JSON webhook channel; it records
  every POST (headers and JSON body) and answers ``status`` (set it to 503 for an outage).
"""

from __future__ import annotations

import email
import json
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

HEADER = "X-Sovereign-Notification"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Received:
    message: Message
    at: float
    rcpt: list[str]


class SmtpReceiver:
    def __init__(self, delay_s: float = 0.0) -> None:
        self.port = free_port()
        self.delay_s = delay_s
        self.messages: list[Received] = []
        self._lock = threading.Lock()
        self._controller: Controller | None = None

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.delay_s:
            time.sleep(self.delay_s)  # a slow server: deliveries are in flight longer
        content = envelope.content
        raw = content if isinstance(content, bytes) else str(content).encode()
        with self._lock:
            self.messages.append(
                Received(email.message_from_bytes(raw), time.time(), list(envelope.rcpt_tos))
            )
        return "250 OK"

    def start(self) -> SmtpReceiver:
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def counts(self) -> Counter[str]:
        with self._lock:
            return Counter(str(r.message[HEADER]) for r in self.messages)


@dataclass
class WebhookReceiver:
    status: int = 200
    posts: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            disable_nagle_algorithm = True
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", 0))
                body = self.rfile.read(length)
                receiver.posts.append(
                    {
                        "path": self.path,
                        "headers": dict(self.headers.items()),
                        "json": json.loads(body or b"null"),
                        "status": receiver.status,
                    }
                )
                self.send_response(receiver.status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def delivered(self) -> list[dict[str, Any]]:
        return [p for p in self.posts if p["status"] < 400]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
