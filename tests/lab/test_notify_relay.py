"""postfix relaying through a smarthost with SASL and TLS (roles/mail: mail.relayhost and
mail.relay_user), on the lab host.

The smarthost is a STAND-IN, not a provider: an aiosmtpd server (tests/standins/relay.py) run
by this test on the controller at the lab bridge's address, that requires STARTTLS and then
AUTH with one user and password before it takes mail. The lab host knows it as relay.lab.test
(an /etc/hosts line, for this test only) and checks its certificate against a test CA
(mail.relay_ca_file): a server with a certificate from another CA gets no mail and no login.
The password goes in as an operator's would: `sovereign vault put-secret` into the host's
Vault, read on the host by sovereign-mail-sasl.service into /etc/postfix/sasl_passwd; it must
appear in no deploy output, no journal and no file but that root-only map. A wrong password
is refused by the relay and the message waits, deferred, until the right one is there: then it
arrives, once."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sovereign.runner import DeployResult, run_deploy
from tests.lab.conftest import INVENTORY, PROJECT_ROOT, Edge, put_secret, ssh
from tests.lab.inventories.mail_relay_settings import (
    RELAY_NAME,
    RELAY_PORT,
    RELAY_USER,
    relay_ca_file,
)
from tests.standins.relay import Relayed, SmarthostStandIn
from tests.standins.tls import TestCA

RELAY_INVENTORY = str(PROJECT_ROOT / "tests" / "lab" / "inventories" / "mail_relay.py")
SECRET = "agent/mail/relay"
SASL_MAP = "/etc/postfix/sasl_passwd"
HOSTS_MARK = "# sovereign-relay-standin"


class Relay:
    def __init__(self, lab: str, standin: SmarthostStandIn, deploy: DeployResult) -> None:
        self.lab, self.standin, self.deploy = lab, standin, deploy

    def use_password(self, password: str) -> None:
        """Put it as the operator does, and run the map's unit as its timer would."""
        put_secret(self.lab, SECRET, {"password": password})
        ssh(self.lab, "systemctl start sovereign-mail-sasl.service")

    def send(self, subject: str) -> None:
        sender = f"appliance@{self.lab}-1.lab.test"
        message = f"printf 'From: %s\\nSubject: %s\\n\\nrelayed\\n' {sender} {subject}"
        ssh(self.lab, f"{message} | /usr/sbin/sendmail -i ops@example.com")

    def arrived(self, subject: str) -> list[Relayed]:
        return [m for m in self.standin.received() if m.message["Subject"] == subject]


def deferred(lab: str) -> list[str]:
    """The delay reasons of the deferred queue's recipients (`postqueue -j`: one JSON a line)."""
    lines = ssh(lab, "postqueue -j", check=False).stdout.splitlines()
    entries = [json.loads(line) for line in lines if line.strip()]
    return [
        str(r.get("delay_reason", ""))
        for e in entries
        if e.get("queue_name") == "deferred"
        for r in e.get("recipients", [])
    ]


def wait(what: Callable[[], bool], timeout_s: float, why: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not what():
        if time.monotonic() > deadline:
            pytest.fail(why)
        time.sleep(1)


@pytest.fixture(scope="module")
def relay(
    lab: str, deployed_edge: Edge, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Relay]:
    from sovereign.lab.state import load_state

    state = load_state(lab)
    assert state is not None
    ca = TestCA(tmp_path_factory.mktemp("relay-ca"))
    relay_ca_file(lab).write_bytes(ca.ca_file.read_bytes())
    ssh(lab, f"echo '{state.gateway} {RELAY_NAME} {HOSTS_MARK}' >> /etc/hosts")
    password = secrets.token_urlsafe(18)
    standin = SmarthostStandIn(
        ca.issue([RELAY_NAME], stem="relay"), state.gateway, RELAY_PORT, RELAY_USER, password
    ).start()
    put_secret(lab, SECRET, {"password": password})  # before the deploy: it writes the map
    result = run_deploy(RELAY_INVENTORY, echo=False)
    try:
        assert result.returncode == 0, result.failure_report()
        assert password not in result.output
        yield Relay(lab, standin, result)
    finally:
        standin.stop()
        # Back to the lab's own mail (capture into the local Maildir) for later modules.
        back = run_deploy(INVENTORY, echo=False)
        assert back.returncode == 0, back.failure_report()
        assert ssh(lab, f"test ! -e {SASL_MAP}", check=False).returncode == 0
        assert ssh(lab, "test ! -e /etc/postfix/relay-ca.pem", check=False).returncode == 0
        ssh(lab, f"sed -i '/{HOSTS_MARK}/d' /etc/hosts", check=False)
        relay_ca_file(lab).unlink(missing_ok=True)


def test_mail_is_relayed_logged_in_over_tls_and_the_password_stays_root_only(
    relay: Relay,
) -> None:
    names = "relayhost smtp_tls_security_level smtp_sasl_auth_enable smtp_sasl_password_maps"
    settings = ssh(relay.lab, f"postconf -h {names}").stdout.split()
    assert settings[1:] == ["secure", "yes", f"hash:{SASL_MAP}"]
    modes = ssh(relay.lab, f"stat -c '%a %U %G' {SASL_MAP} {SASL_MAP}.db").stdout.split("\n")
    assert modes[:2] == ["600 root root", "600 root root"]

    subject = f"relay-{secrets.token_hex(4)}"
    relay.send(subject)
    wait(lambda: bool(relay.arrived(subject)), 90, f"{subject} did not reach the smarthost")
    (got,) = relay.arrived(subject)
    assert got.login == RELAY_USER and (got.tls or "").startswith("TLSv1")
    logged = ssh(relay.lab, "journalctl -u postfix@- --no-pager -n 200", check=False).stdout
    assert f"Verified TLS connection established to {RELAY_NAME}" in logged
    assert got.rcpt == ["ops@example.com"]

    password = relay.standin.password
    units = "-u sovereign-mail-sasl.service -u postfix@-"
    journal = ssh(relay.lab, f"journalctl {units} --no-pager -n 200", check=False).stdout
    assert password not in journal and "sasl_passwd" in journal
    places = "/etc /var/log /tmp /var/lib/sovereign"
    found = f"grep -rlsF -- {json.dumps(password)} {places} | grep -v '^{SASL_MAP}' || true"
    readable = ssh(relay.lab, found)
    assert readable.stdout.strip() == ""


def test_a_wrong_password_is_refused_and_the_mail_waits_deferred_until_the_right_one(
    relay: Relay,
) -> None:
    right = relay.standin.password
    refused = relay.standin.refused
    relay.use_password("not-" + right)
    subject = f"deferred-{secrets.token_hex(4)}"
    try:
        relay.send(subject)

        wait(lambda: bool(deferred(relay.lab)), 90, "the message was not deferred")
        assert relay.standin.refused > refused and relay.arrived(subject) == []
        reasons = " ".join(deferred(relay.lab))
        assert "535" in reasons or "uthentication" in reasons, reasons
    finally:
        relay.use_password(right)
    ssh(relay.lab, "postqueue -f")
    wait(lambda: bool(relay.arrived(subject)), 90, f"{subject} did not arrive after the fix")
    time.sleep(3)
    assert len(relay.arrived(subject)) == 1  # not lost, not twice
    assert ssh(relay.lab, "postqueue -j").stdout.strip() == ""


def test_the_map_unit_needs_no_secret_on_its_command_line(relay: Relay) -> None:
    unit = ssh(relay.lab, "systemctl cat sovereign-mail-sasl.service").stdout
    assert relay.standin.password not in unit and f"--secret {SECRET}" in unit
    assert Path(RELAY_INVENTORY).read_text().count("password") == 0


def test_a_relay_whose_certificate_the_ca_did_not_sign_gets_no_mail_and_no_login(
    relay: Relay, tmp_path: Path
) -> None:
    """Someone in between posing as the relay, with a certificate of their own for its name:
    postfix does not log in or send; the message waits until the real relay is back."""
    real = relay.standin
    impostor_ca = TestCA(tmp_path / "impostor", name="Not the relay's CA")
    real.stop()
    impostor = SmarthostStandIn(
        impostor_ca.issue([RELAY_NAME], stem="impostor"),
        real.host,
        real.port,
        real.user,
        real.password,
    ).start()
    subject = f"impostor-{secrets.token_hex(4)}"
    try:
        relay.send(subject)
        wait(lambda: bool(deferred(relay.lab)), 90, "the message was not deferred")
        reasons = " ".join(deferred(relay.lab))
        assert "certificate" in reasons.lower(), reasons
        assert impostor.received() == [] and impostor.refused == 0  # no AUTH attempted
    finally:
        impostor.stop()
        real.start()
    ssh(relay.lab, "postqueue -f")
    wait(lambda: bool(relay.arrived(subject)), 90, f"{subject} did not arrive from the queue")
    assert ssh(relay.lab, "postqueue -j").stdout.strip() == ""
