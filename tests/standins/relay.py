"""A smarthost stand-in: an aiosmtpd server that, like a provider's submission port, requires
STARTTLS, then SASL AUTH (PLAIN or LOGIN) with one user and password, before it takes mail.
A real SMTP server (aiosmtpd), not any provider; it records who logged in, over which TLS
version, and every message, and counts refused logins."""

from __future__ import annotations

import email
import threading
from dataclasses import dataclass
from email.message import Message
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from tests.standins.tls import ServerCert


@dataclass(frozen=True)
class Relayed:
    login: str
    tls: str | None
    mail_from: str
    rcpt: list[str]
    message: Message


class SmarthostStandIn:
    def __init__(self, cert: ServerCert, host: str, port: int, user: str, password: str) -> None:
        self.cert, self.host, self.port = cert, host, port
        self.user, self.password = user, password
        self.messages: list[Relayed] = []
        self.refused = 0
        self._lock = threading.Lock()
        self._controller: Controller | None = None

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        ok = (
            isinstance(data, LoginPassword)
            and data.login.decode() == self.user
            and data.password.decode() == self.password
        )
        if not ok:
            with self._lock:
                self.refused += 1
        return AuthResult(success=ok, handled=False, auth_data=data if ok else None)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        ssl_object = server.transport.get_extra_info("ssl_object") if server.transport else None
        content = envelope.content
        raw = content if isinstance(content, bytes) else str(content).encode()
        login = session.auth_data.login.decode() if session.auth_data else ""
        with self._lock:
            self.messages.append(
                Relayed(
                    login,
                    ssl_object.version() if ssl_object else None,
                    str(envelope.mail_from),
                    list(envelope.rcpt_tos),
                    email.message_from_bytes(raw),
                )
            )
        return "250 OK queued"

    def received(self) -> list[Relayed]:
        with self._lock:
            return list(self.messages)

    def start(self) -> SmarthostStandIn:
        self._controller = Controller(
            self,
            hostname=self.host,
            port=self.port,
            server_hostname="relay.lab.test",
            tls_context=self.cert.server_context(),
            require_starttls=True,
            auth_required=True,
            auth_require_tls=True,
            authenticator=self.authenticate,
        )
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None
