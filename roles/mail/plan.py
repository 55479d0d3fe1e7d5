"""The mail role's decisions (pure): postfix's main.cf for a host."""

from __future__ import annotations

from dataclasses import dataclass

from roles.mail.settings import SINK_USER, MailSettings

#: postfix's SASL password map (root, 0600; sovereign-mail-sasl.service writes it).
SASL_MAP = "/etc/postfix/sasl_passwd"
#: The relay's CA when the inventory names one (mail.relay_ca_file), else Debian's bundle.
RELAY_CA = "/etc/postfix/relay-ca.pem"
SYSTEM_CAS = "/etc/ssl/certs/ca-certificates.crt"


@dataclass(frozen=True)
class MainCf:
    """The values main.cf.j2 renders."""

    myhostname: str
    relayhost: str
    #: Through a relay, `secure` (TLS, its certificate checked: mail.relay_tls = verify) or
    #: `encrypt` (TLS only); credentials and mail are never in clear to it. Else `may`.
    smtp_tls_security_level: str
    smtp_tls_CAfile: str
    #: A static virtual alias sending every recipient to the sink (lab), or "".
    virtual_alias_maps: str
    home_mailbox: str
    #: The relay's password map when it is logged in to (SASL), or "".
    smtp_sasl_password_maps: str = ""


def main_cf(settings: MailSettings, host_name: str) -> MainCf:
    capture = settings.capture
    return MainCf(
        myhostname=settings.hostname or host_name,
        relayhost=settings.relayhost or "",
        smtp_tls_security_level=relay_tls_level(settings),
        smtp_tls_CAfile=RELAY_CA if settings.relay_ca_file else SYSTEM_CAS,
        virtual_alias_maps=f"static:{SINK_USER}" if capture else "",
        home_mailbox="Maildir/" if capture else "",
        smtp_sasl_password_maps=f"hash:{SASL_MAP}" if settings.relay_user else "",
    )


def relay_tls_level(settings: MailSettings) -> str:
    if not settings.relayhost:
        return "may"
    return "secure" if settings.relay_tls == "verify" else "encrypt"


@dataclass(frozen=True)
class SaslJob:
    """What sovereign-mail-sasl.service is run with (no secret: it reads the password itself)."""

    relayhost: str
    user: str
    secret: str


def sasl_job(settings: MailSettings) -> SaslJob | None:
    if not (settings.relayhost and settings.relay_user):
        return None
    return SaslJob(settings.relayhost, settings.relay_user, settings.relay_secret)
