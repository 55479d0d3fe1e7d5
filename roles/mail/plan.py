"""The mail role's decisions (pure): postfix's main.cf for a host."""

from __future__ import annotations

from dataclasses import dataclass

from roles.mail.settings import SINK_USER, MailSettings


@dataclass(frozen=True)
class MainCf:
    """The values main.cf.j2 renders."""

    myhostname: str
    relayhost: str
    #: `encrypt` through a relay (credentials and mail never in clear to it), else `may`.
    smtp_tls_security_level: str
    #: A static virtual alias sending every recipient to the sink (lab), or "".
    virtual_alias_maps: str
    home_mailbox: str


def main_cf(settings: MailSettings, host_name: str) -> MainCf:
    capture = settings.capture
    return MainCf(
        myhostname=settings.hostname or host_name,
        relayhost=settings.relayhost or "",
        smtp_tls_security_level="encrypt" if settings.relayhost else "may",
        virtual_alias_maps=f"static:{SINK_USER}" if capture else "",
        home_mailbox="Maildir/" if capture else "",
    )
