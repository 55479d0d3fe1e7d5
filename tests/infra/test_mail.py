"""The mail role's outcome: postfix running and enabled, listening on loopback only (the
agent's `email` channel sends through it; nothing else may), relaying for this host alone,
TLS required to a relay; with capture (lab), a message to anyone lands in the sink's Maildir."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

from tests.infra.expected import (
    MAIL_MAIN_CF,
    MAIL_SINK_MAILDIR,
    MAIL_SINK_USER,
    MAIL_UNIT,
    HostData,
    Mail,
)

pytestmark = pytest.mark.journal(MAIL_UNIT)


@pytest.fixture(scope="module")
def mail(host_data: HostData) -> Mail:
    settings = Mail.of(host_data)
    if not settings.enabled:
        pytest.skip("mail.enabled is false: no postfix on this host")
    return settings


def postconf(host: Any, name: str) -> str:
    return str(host.check_output(f"postconf -h {name}")).strip()


def test_postfix_is_installed_running_and_enabled(host: Any, mail: Mail) -> None:
    assert host.package("postfix").is_installed
    assert host.service("postfix").is_running
    assert host.service("postfix").is_enabled


def test_smtp_listens_on_loopback_only(host: Any, mail: Mail) -> None:
    assert host.socket("tcp://127.0.0.1:25").is_listening
    listening = [s for s in host.socket.get_listening_sockets() if s.endswith(":25")]
    assert listening == ["tcp://127.0.0.1:25"], listening
    assert postconf(host, "inet_interfaces") == "loopback-only"


def test_it_relays_for_this_host_alone(host: Any, mail: Mail) -> None:
    assert postconf(host, "mynetworks") == "127.0.0.0/8"
    assert postconf(host, "smtpd_relay_restrictions").startswith("permit_mynetworks")
    assert host.file(MAIL_MAIN_CF).contains("Managed by Sovereign Appliance")


def test_a_relay_is_used_over_tls_only(host: Any, mail: Mail) -> None:
    assert postconf(host, "relayhost") == mail.relayhost
    expected = "encrypt" if mail.relayhost else "may"
    assert postconf(host, "smtp_tls_security_level") == expected


def test_with_capture_mail_to_anyone_lands_in_the_sink_maildir(host: Any, mail: Mail) -> None:
    if not mail.capture:
        pytest.skip("mail.capture is off: mail goes to its recipients")
    marker = f"verify-{uuid.uuid4().hex}"
    host.run(
        "printf 'Subject: %s\\n\\nfrom the verification suite\\n' "
        f"{marker} | /usr/sbin/sendmail -f verify@localhost someone@example.com"
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = host.run(f"grep -l -F 'Subject: {marker}' {MAIL_SINK_MAILDIR}/new/*")
        if found.rc == 0:
            path = found.stdout.strip().splitlines()[0]
            assert host.file(path).user == MAIL_SINK_USER
            host.run(f"rm -f {path}")
            return
        time.sleep(0.5)
    pytest.fail(f"no captured message {marker} in {MAIL_SINK_MAILDIR}/new")
