"""Mail role: Debian's postfix on loopback only, the SMTP server the agent's `email`
notification channel sends through (host 127.0.0.1, port 25). It relays to `mail.relayhost`
(TLS required) or delivers to recipients' MX; with `mail.capture` (lab) every message lands
in the local Maildir of `mailsink` instead.

Stages: install (postfix) → configure (main.cf, the sink's home) → activate (restart postfix
when main.cf changed: inet_interfaces needs a restart, not a reload; then running, enabled).
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from pyinfra.api import deploy
from pyinfra.api.operation import OperationMeta
from pyinfra.operations import systemd

from roles.common import ops as common
from roles.mail.plan import main_cf
from roles.mail.settings import SINK_HOME, SINK_USER

if TYPE_CHECKING:
    from roles.spec import HostSpec

HERE = Path(__file__).parent
MAIN_CF = "/etc/postfix/main.cf"
UNIT = "postfix.service"


@deploy("Mail (postfix, loopback)")
def mail(spec: HostSpec) -> None:
    install()
    activate(configure(spec))


def install() -> None:
    # The package's own questions are answered by main.cf below (noninteractive install).
    common.packages(name="Install postfix", packages=["postfix"], update=True)


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


def activate(main: OperationMeta) -> None:
    systemd.service(
        name="Restart postfix for its new main.cf",
        service=UNIT,
        restarted=True,
        _if=main.did_change,
    )
    common.service(name=f"Run {UNIT}", unit=UNIT)
