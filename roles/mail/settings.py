"""Settings of the mail role (host data key `mail`): Debian's postfix on loopback only, the
server the agent's `email` channel sends through."""

from __future__ import annotations

import ipaddress
import re
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, FilePath, field_validator, model_validator

from appliance.secrets.names import check_secret_name

#: `[host]:port` or `host:port` or `host`, as postfix's relayhost takes it.
RELAYHOST = re.compile(r"^(\[[A-Za-z0-9.-]+\]|[A-Za-z0-9.-]+)(:[0-9]{1,5})?$")
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
DOMAIN = re.compile(rf"^(?=.{{1,253}}$)(?:{_LABEL}\.)*{_LABEL}$")

#: A SASL user name as postfix's password map holds it (`user:password`: no colon, no blank).
SASL_USER = re.compile(r"^[A-Za-z0-9._%+@=-]{1,254}$")

#: The local user every message goes to when `capture` is on (lab), its Maildir under HOME.
SINK_USER = "mailsink"
SINK_HOME = "/var/lib/sovereign-mail"


class MailSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(default=True, description="Install and run postfix (loopback only).")
    hostname: str | None = Field(
        default=None,
        description="postfix's myhostname (the envelope's domain); the host's name by default.",
    )
    relayhost: str | None = Field(
        default=None,
        description="Send everything through this smarthost (`[smtp.example.com]:587`), TLS "
        "required; unset: deliver directly to recipients' MX (TLS when offered).",
    )
    relay_user: str | None = Field(
        default=None,
        description="Log in to the relayhost with this SASL user (PLAIN/LOGIN, only over TLS); "
        "its password is the `password` field of `relay_secret`, put into the host's Vault by "
        "the operator (`sovereign vault put-secret INVENTORY agent/mail/relay`), never here.",
    )
    relay_secret: str = Field(
        default="agent/mail/relay",
        description="The agent secret (Vault KV, under agent/) whose `password` field is the "
        "relay password; read on the host by sovereign-mail-sasl.service into "
        "/etc/postfix/sasl_passwd (root, 0600).",
    )
    relay_tls: Literal["verify", "encrypt"] = Field(
        default="verify",
        description="`verify`: the relay's certificate must chain to a trusted CA and name the "
        "relayhost (postfix's `secure`), so nobody in between can pose as the relay and take "
        "the mail and the login; `encrypt`: TLS without checking whom it reaches (weaker: only "
        "for a relay whose certificate cannot be checked).",
    )
    relay_ca_file: FilePath | None = Field(
        default=None,
        description="A PEM file on the controller with the CA(s) that sign the relay's "
        "certificate, when that is not a public CA (Debian's CA bundle is used otherwise); "
        "copied to the host as /etc/postfix/relay-ca.pem.",
    )
    capture: bool = Field(
        default=False,
        description="Deliver every message to the local Maildir of `mailsink` "
        f"({SINK_HOME}/Maildir) instead of its recipients: for the lab, nothing leaves the host.",
    )

    @field_validator("hostname")
    @classmethod
    def _hostname(cls, value: str | None) -> str | None:
        if value is not None and not DOMAIN.match(value):
            raise ValueError("must be a DNS name such as appliance.example.com")
        return value

    @field_validator("relayhost")
    @classmethod
    def _relayhost(cls, value: str | None) -> str | None:
        if value is not None and not RELAYHOST.match(value):
            raise ValueError("must be host, host:port or [host]:port")
        return value

    @field_validator("relay_user")
    @classmethod
    def _relay_user(cls, value: str | None) -> str | None:
        if value is not None and not SASL_USER.match(value):
            raise ValueError("must be a user name or address without blanks or colons")
        return value

    @field_validator("relay_secret")
    @classmethod
    def _relay_secret(cls, value: str) -> str:
        check_secret_name(value)
        if not value.startswith("agent/") or value == "agent/":
            raise ValueError("must be under agent/ (the agent's Vault policy reads only those)")
        return value

    @model_validator(mode="after")
    def _user_needs_relay(self) -> Self:
        if self.relay_user and not self.relayhost:
            raise ValueError("relay_user needs relayhost")
        if self.relay_ca_file and not self.relayhost:
            raise ValueError("relay_ca_file needs relayhost")
        if self.relayhost and self.relay_tls == "verify" and _is_address(self.relayhost):
            raise ValueError(
                "relayhost is an IP address, and a certificate is checked against a name: "
                "give the relay's DNS name, or set relay_tls = 'encrypt' (not verified)"
            )
        return self


def _is_address(relayhost: str) -> bool:
    host = relayhost.rsplit(":", 1)[0] if not relayhost.startswith("[") else relayhost[1:]
    host = host.split("]", 1)[0]
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
