"""Mail role: Debian's postfix on loopback only, the SMTP server the agent's `email`
notification channel sends through (host 127.0.0.1, port 25). It relays to `mail.relayhost`
(TLS required, the relay's certificate checked against its name and Debian's CAs or
`mail.relay_ca_file`, unless `mail.relay_tls = "encrypt"`) or delivers to recipients' MX;
with `mail.capture` (lab) every message lands in the local Maildir of `mailsink` instead.

With `mail.relay_user` it logs in to the relay (SASL, inside TLS only). The password is the
operator's: `sovereign vault put-secret INVENTORY agent/mail/relay` puts `{"password": …}` in
the host's Vault, and sovereign-mail-sasl.service (run at deploy and every 15 minutes, as root,
with the agent's Python and secrets backend: appliance/mailrelay.py) writes it into
/etc/postfix/sasl_passwd (root, 0600) and its map. The deploy never reads, prints or uploads it.

Stages: install (postfix, SASL modules) → configure (main.cf, the sink's home, the password
map's unit) → activate (restart postfix when main.cf changed: inet_interfaces needs a restart,
not a reload; then running, enabled; the map refreshed).
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from pyinfra.api import deploy
from pyinfra.api.operation import OperationMeta
from pyinfra.operations import systemd
from pyinfra.operations.util import any_changed

from roles.common import ops as common
from roles.mail.plan import RELAY_CA, SASL_MAP, SaslJob, main_cf, sasl_job
from roles.mail.settings import SINK_HOME, SINK_USER

if TYPE_CHECKING:
    from roles.spec import HostSpec

HERE = Path(__file__).parent
MAIN_CF = "/etc/postfix/main.cf"
UNIT = "postfix.service"
SASL_SERVICE = "sovereign-mail-sasl.service"
SASL_TIMER = "sovereign-mail-sasl.timer"
AGENT_PYTHON = "/opt/sovereign/agent/bin/python"


@deploy("Mail (postfix, loopback)")
def mail(spec: HostSpec) -> None:
    install()
    main = configure(spec)
    ca = relay_ca(spec)
    job = sasl_job(spec.mail)
    units = sasl_units(job) if job else None
    activate([main, ca])
    if units:
        refresh(units, main)
    else:
        retire()


def install() -> None:
    # The package's own questions are answered by main.cf below (noninteractive install);
    # libsasl2-modules holds the PLAIN/LOGIN mechanisms postfix logs in to a relay with.
    common.packages(name="Install postfix", packages=["postfix", "libsasl2-modules"], update=True)


def configure(spec: HostSpec) -> OperationMeta:
    settings = spec.mail
    if settings.capture:
        common.system_user(
            name=f"Create the mail sink user {SINK_USER}",
            user=SINK_USER,
            group=SINK_USER,
            home=SINK_HOME,
        )
        common.directory(
            name=f"Create {SINK_HOME} (the sink's Maildir lives here)",
            path=SINK_HOME,
            user=SINK_USER,
            group=SINK_USER,
            mode="700",
        )
    return common.template(
        name=f"Configure postfix ({MAIN_CF})",
        src=str(HERE / "main.cf.j2"),
        dest=MAIN_CF,
        cf=asdict(main_cf(settings, spec.base.hostname or spec.name)),
    )


def relay_ca(spec: HostSpec) -> OperationMeta:
    """The relay's CA file when the inventory names one (else none left behind); postfix
    restarts when it changes, as for main.cf (its SMTP clients read it)."""
    source = spec.mail.relay_ca_file
    if source is None:
        return common.absent(name=f"Remove {RELAY_CA}", path=RELAY_CA)
    return common.put(name=f"Install the relay's CA ({RELAY_CA})", src=str(source), dest=RELAY_CA)


def sasl_units(job: SaslJob) -> list[OperationMeta]:
    service = common.template(
        name=f"Install {SASL_SERVICE}",
        src=str(HERE / f"{SASL_SERVICE}.j2"),
        dest=f"/etc/systemd/system/{SASL_SERVICE}",
        job=asdict(job),
        python=AGENT_PYTHON,
    )
    timer = common.put(
        name=f"Install {SASL_TIMER}",
        src=str(HERE / SASL_TIMER),
        dest=f"/etc/systemd/system/{SASL_TIMER}",
    )
    return [service, timer]


def refresh(units: list[OperationMeta], main: OperationMeta) -> None:
    """The map at once when the relay's settings changed (the unit skips itself until the
    agent's Python is there), and every 15 minutes from the timer (a password put later)."""
    systemd.daemon_reload(name="Reload systemd units", _if=any_changed(*units))
    systemd.service(
        name="Write the relay password map",
        service=SASL_SERVICE,
        restarted=True,
        _if=any_changed(*units, main),
    )
    common.service(name=f"Run {SASL_TIMER}", unit=SASL_TIMER)


def retire() -> None:
    """No relay login (or no more): the timer stopped, its units and the password map gone."""
    systemd.service(name=f"Stop {SASL_TIMER}", service=SASL_TIMER, running=False, enabled=False)
    gone = [
        common.absent(name=f"Remove {path}", path=path)
        for path in (
            f"/etc/systemd/system/{SASL_TIMER}",
            f"/etc/systemd/system/{SASL_SERVICE}",
            SASL_MAP,
            f"{SASL_MAP}.db",
        )
    ]
    systemd.daemon_reload(name="Reload systemd units", _if=any_changed(*gone[:2]))


def activate(configuration: list[OperationMeta]) -> None:
    systemd.service(
        name="Restart postfix for its new main.cf",
        service=UNIT,
        restarted=True,
        _if=any_changed(*configuration),
    )
    common.service(name=f"Run {UNIT}", unit=UNIT)
