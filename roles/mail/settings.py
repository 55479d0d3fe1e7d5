"""Settings of the mail role (host data key `mail`): Debian's postfix on loopback only, the
server the agent's `email` channel sends through."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator

#: `[host]:port` or `host:port` or `host`, as postfix's relayhost takes it.
RELAYHOST = re.compile(r"^(\[[A-Za-z0-9.-]+\]|[A-Za-z0-9.-]+)(:[0-9]{1,5})?$")
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
DOMAIN = re.compile(rf"^(?=.{{1,253}}$)(?:{_LABEL}\.)*{_LABEL}$")

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
