"""The mail role's decisions: postfix's main.cf (loopback only; TLS required to a relay, SASL
login to it inside TLS with the password map's unit carrying no secret; the lab's capture into
a local Maildir), and its settings validated in the host spec. The map's writer on the host:
tests/unit/test_mailrelay.py."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from roles.mail.plan import SaslJob, main_cf, sasl_job
from roles.mail.settings import MailSettings
from roles.settings import RoleSettingsError
from roles.spec import parse_host_spec
from sovereign.lab.inventory import lab_channels

TEMPLATES = Path(__file__).resolve().parents[2] / "roles" / "mail"
DISKS = [f"/dev/disk/by-id/d{n}" for n in range(6)]


def rendered(settings: MailSettings, host: str = "appliance-1") -> dict[str, str]:
    """main.cf as postconf would read it: name → value (comments and blanks dropped)."""
    env = Environment(loader=FileSystemLoader(TEMPLATES), undefined=StrictUndefined)  # noqa: S701 - a config file, not HTML
    text = env.get_template("main.cf.j2").render(cf=asdict(main_cf(settings, host)))
    pairs = [line.split("=", 1) for line in text.splitlines() if line and line[0] not in "# "]
    return {k.strip(): v.strip() for k, v in pairs}


def test_postfix_listens_on_loopback_only_and_relays_for_this_host_alone() -> None:
    cf = rendered(MailSettings())
    assert cf["inet_interfaces"] == "loopback-only" and cf["mynetworks"] == "127.0.0.0/8"
    assert cf["smtpd_relay_restrictions"].startswith("permit_mynetworks")
    assert cf["myhostname"] == "appliance-1" and cf["relayhost"] == ""
    assert cf["smtp_tls_security_level"] == "may"
    assert "virtual_alias_maps" not in cf


def test_a_relay_is_reached_over_tls_only_its_certificate_checked() -> None:
    cf = rendered(MailSettings(relayhost="[smtp.example.com]:587", hostname="nas.example.com"))
    assert cf["relayhost"] == "[smtp.example.com]:587"
    # `secure`: the certificate must chain to a trusted CA and name the relay.
    assert cf["smtp_tls_security_level"] == "secure"
    assert cf["smtp_tls_CAfile"] == "/etc/ssl/certs/ca-certificates.crt"
    assert cf["smtp_host_lookup"] == "dns, native"  # /etc/hosts may name it
    assert cf["myhostname"] == "nas.example.com"


def test_an_operator_may_ask_for_tls_without_the_check() -> None:
    settings = MailSettings(relayhost="[192.0.2.25]:587", relay_tls="encrypt")
    assert rendered(settings)["smtp_tls_security_level"] == "encrypt"


def test_a_relay_ca_file_is_what_the_certificate_is_checked_against(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    cf = rendered(MailSettings(relayhost="[smtp.example.com]:587", relay_ca_file=ca))
    assert cf["smtp_tls_CAfile"] == "/etc/postfix/relay-ca.pem"
    assert cf["smtp_tls_security_level"] == "secure"


def test_capture_sends_every_recipient_to_the_local_sink_maildir() -> None:
    cf = rendered(MailSettings(capture=True))
    assert cf["virtual_alias_maps"] == "static:mailsink"
    assert cf["home_mailbox"] == "Maildir/"


def host(**data: Any) -> dict[str, Any]:
    return {"ssh_hostname": "192.0.2.1", "storage": {"disks": DISKS}, **data}


@pytest.mark.parametrize(
    ("mail", "field"),
    [
        ({"relayhost": "smtp.example.com:587; rm -rf /"}, "mail.relayhost"),
        ({"hostname": "-bad-"}, "mail.hostname"),
        ({"capture": "sometimes"}, "mail.capture"),
        ({"relay": "x"}, "mail.relay"),
    ],
)
def test_bad_mail_settings_name_the_field(mail: dict[str, Any], field: str) -> None:
    with pytest.raises(RoleSettingsError, match=rf"{field}:"):
        parse_host_spec("h1", host(mail=mail))


def test_the_lab_host_captures_mail_and_declares_its_email_channel(tmp_path: Path) -> None:
    spec = parse_host_spec(
        "lab-1",
        host(
            mail={"capture": True},
            agent={"notifications": {"channels": lab_channels("lab-1")}},
            vault={"controller_dir": str(tmp_path)},
        ),
    )
    assert spec.mail.enabled and spec.mail.capture
    email, pager, sms = spec.agent.notifications.channels
    assert email.name == "email" and email.options["host"] == "127.0.0.1"
    assert email.secret is None  # loopback postfix: no credentials anywhere
    assert (pager.kind, pager.secret) == ("pagerduty", "agent/notify/pager")
    assert (sms.kind, sms.secret) == ("twilio", "agent/notify/sms")


# Relaying through a smarthost with SASL -------------------------------------------------------

RELAY = {"relayhost": "[smtp.example.com]:587", "relay_user": "appliance@example.com"}


def test_a_relay_with_a_user_is_logged_in_to_inside_tls_only() -> None:
    cf = rendered(MailSettings.model_validate(RELAY))
    assert cf["smtp_tls_security_level"] == "secure"
    assert cf["smtp_sasl_auth_enable"] == "yes"
    assert cf["smtp_sasl_password_maps"] == "hash:/etc/postfix/sasl_passwd"
    assert cf["smtp_sasl_security_options"] == "noanonymous"
    assert cf["smtp_sasl_tls_security_options"] == "noanonymous"


def test_without_a_user_nothing_is_logged_in_to() -> None:
    cf = rendered(MailSettings(relayhost="[smtp.example.com]:587"))
    assert not any(key.startswith("smtp_sasl") for key in cf)
    assert sasl_job(MailSettings(relayhost="[smtp.example.com]:587")) is None


def test_the_password_maps_unit_carries_no_secret_and_waits_for_the_agent() -> None:
    job = sasl_job(MailSettings.model_validate(RELAY))
    assert job == SaslJob("[smtp.example.com]:587", "appliance@example.com", "agent/mail/relay")
    env = Environment(loader=FileSystemLoader(TEMPLATES), undefined=StrictUndefined)  # noqa: S701 - a unit file
    unit = env.get_template("sovereign-mail-sasl.service.j2").render(
        job=asdict(job), python="/opt/sovereign/agent/bin/python"
    )
    lines = dict(line.split("=", 1) for line in unit.splitlines() if "=" in line and line[0] != "#")
    assert lines["ExecStart"] == (
        "/opt/sovereign/agent/bin/python -m appliance.mailrelay --relayhost "
        "[smtp.example.com]:587 --user appliance@example.com --secret agent/mail/relay"
    )
    assert lines["ConditionPathExists"] == "/opt/sovereign/agent/bin/python"
    assert lines["UMask"] == "0077"


@pytest.mark.parametrize(
    ("mail", "field", "says"),
    [
        ({"relay_user": "u"}, "mail", "relay_user needs relayhost"),
        ({**RELAY, "relay_user": "a:b"}, "mail.relay_user", "without blanks or colons"),
        ({**RELAY, "relay_user": "a b"}, "mail.relay_user", "without blanks or colons"),
        ({**RELAY, "relay_secret": "postgres/x"}, "mail.relay_secret", "under agent/"),
        ({**RELAY, "relay_password": "x"}, "mail.relay_password", "Extra inputs"),
        ({"relayhost": "[192.0.2.25]:587"}, "mail", "is an IP address.*relay_tls = 'encrypt'"),
        ({"relayhost": "192.0.2.25"}, "mail", "is an IP address"),
        ({**RELAY, "relay_tls": "none"}, "mail.relay_tls", "'verify' or 'encrypt'"),
        (
            {**RELAY, "relay_ca_file": "/nonexistent/ca.pem"},
            "mail.relay_ca_file",
            "does not point to a file",
        ),
        ({"relay_ca_file": __file__}, "mail", "relay_ca_file needs relayhost"),
    ],
)
def test_bad_relay_settings_name_the_field(mail: dict[str, Any], field: str, says: str) -> None:
    with pytest.raises(RoleSettingsError, match=rf"{field}: .*{says}") as err:
        parse_host_spec("h1", host(mail=mail))
    assert "relay_password: x" not in str(err.value)  # a value is not echoed back
