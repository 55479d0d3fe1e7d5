"""The email channel over TLS through the real Apprise code to a real SMTP server (aiosmtpd)
holding a certificate for its name from a test CA: STARTTLS (the server refuses mail before
it) and implicit TLS. The client verifies that certificate (SSL_CERT_FILE names the test CA for
``ssl.create_default_context``, which Apprise's SMTP uses); the name resolves to the server
through tests/standins/resolver.py, in this process only."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import pytest

from appliance.notifications.channels import Delivery, send
from appliance.notifications.models import Channel
from tests.standins.resolver import resolve_to
from tests.standins.smtp import TlsSmtpReceiver
from tests.standins.tls import TestCA

MAIL_HOST = "mail.appliance.test"


@pytest.fixture
def ca(tmp_path: Path) -> TestCA:
    return TestCA(tmp_path / "ca")


def server(ca: TestCA, mode: Literal["starttls", "ssl"]) -> Iterator[TlsSmtpReceiver]:
    receiver = TlsSmtpReceiver(ca.issue([MAIL_HOST], stem="mail"), mode, MAIL_HOST).start()
    with resolve_to({MAIL_HOST: ("127.0.0.1", receiver.port)}):
        yield receiver
    receiver.stop()


@pytest.fixture
def starttls(ca: TestCA, monkeypatch: pytest.MonkeyPatch) -> Iterator[TlsSmtpReceiver]:
    monkeypatch.setenv("SSL_CERT_FILE", str(ca.ca_file))
    yield from server(ca, "starttls")


@pytest.fixture
def smtps(ca: TestCA, monkeypatch: pytest.MonkeyPatch) -> Iterator[TlsSmtpReceiver]:
    monkeypatch.setenv("SSL_CERT_FILE", str(ca.ca_file))
    yield from server(ca, "ssl")


def email_channel(port: int, tls: str) -> Channel:
    options = {"host": MAIL_HOST, "port": port, "tls": tls, "from": "appliance@example.test"}
    return Channel("email", "email", options)


DELIVERY = Delivery(
    notification_id=7,
    subject="Model Validation Complete",
    text="Your model has been validated successfully.",
    recipient="user123@example.com",
)


def test_email_with_starttls_arrives_over_an_upgraded_connection(
    starttls: TlsSmtpReceiver,
) -> None:
    result = send(email_channel(starttls.port, "starttls"), {}, DELIVERY)
    assert result.ok, result.error
    (received,) = starttls.messages
    assert received.rcpt == ["user123@example.com"]
    assert received.message["Subject"] == "Model Validation Complete"
    assert received.message["X-Sovereign-Notification"] == "7"
    (tls,) = starttls.tls
    assert tls.encrypted and tls.protocol in ("TLSv1.2", "TLSv1.3")


def test_plain_smtp_is_refused_by_a_server_that_requires_starttls(
    starttls: TlsSmtpReceiver,
) -> None:
    result = send(email_channel(starttls.port, "none"), {}, DELIVERY)
    assert not result.ok
    assert starttls.messages == []


def test_starttls_checks_the_servers_certificate(
    starttls: TlsSmtpReceiver, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Trusting another CA, the upgrade fails and nothing is sent in the clear instead."""
    monkeypatch.setenv("SSL_CERT_FILE", str(TestCA(tmp_path / "other").ca_file))
    result = send(email_channel(starttls.port, "starttls"), {}, DELIVERY)
    assert not result.ok
    assert starttls.messages == []


def test_email_with_implicit_tls_arrives_encrypted(smtps: TlsSmtpReceiver) -> None:
    result = send(email_channel(smtps.port, "ssl"), {}, DELIVERY)
    assert result.ok, result.error
    (received,) = smtps.messages
    assert received.message["Subject"] == "Model Validation Complete"
    (tls,) = smtps.tls
    assert tls.encrypted and tls.protocol is not None
