"""An SMTP server speaking TLS with a test CA's certificate: STARTTLS (required before MAIL) or
implicit TLS (SMTPS). A real aiosmtpd server, not a vendor stand-in; it records, per message,
whether the session was encrypted and with which protocol."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from tests.standins.tls import ServerCert
from tests.unit.notifications.receivers import SmtpReceiver


@dataclass(frozen=True)
class TlsInfo:
    encrypted: bool
    protocol: str | None


class TlsSmtpReceiver(SmtpReceiver):
    def __init__(self, cert: ServerCert, mode: Literal["starttls", "ssl"], name: str) -> None:
        super().__init__()
        self.cert = cert
        self.mode = mode
        self.name = name
        self.tls: list[TlsInfo] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        # The transport carrying DATA: after STARTTLS (session.ssl) or TLS from the start.
        ssl_object = server.transport.get_extra_info("ssl_object") if server.transport else None
        self.tls.append(
            TlsInfo(ssl_object is not None, ssl_object.version() if ssl_object else None)
        )
        return await super().handle_DATA(server, session, envelope)

    def start(self) -> TlsSmtpReceiver:
        context = self.cert.server_context()
        if self.mode == "starttls":
            self._controller = Controller(
                self, hostname="127.0.0.1", port=self.port, server_hostname=self.name,
                tls_context=context, require_starttls=True,
            )  # fmt: skip
        else:
            self._controller = Controller(
                self, hostname="127.0.0.1", port=self.port, server_hostname=self.name,
                ssl_context=context,
            )  # fmt: skip
        self._controller.start()
        return self
