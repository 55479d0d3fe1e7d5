"""Edge role: nginx from Debian in front of the loopback-only agent. HTTPS on the edge port with
a certificate from the appliance CA, security headers, the client's address handed to the agent
(X-Forwarded-For, X-Real-IP: the agent believes them from 127.0.0.1 only), keep-alive to the
agent, its body limit and timeouts; plain HTTP redirected (browsers) or refused (credentials,
state changes). With a `nextcloud` section, HTTPS for its server names goes to Nextcloud's
loopback vhost (roles/nextcloud) instead, and the certificate carries those names too.

Stages: install (nginx) → configure (certificate, site, hardening drop-in) → activate (check the
configuration with `nginx -t`, restart for a new unit drop-in, reload for a new site or
certificate).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pyinfra.api import deploy
from pyinfra.api.operation import OperationMeta
from pyinfra.operations import server, systemd
from pyinfra.operations.util import any_changed

from roles.common import ops as common
from roles.edge.plan import render_args
from roles.nextcloud.plan import edge_names
from roles.pki import TLS_DIR, certificate

if TYPE_CHECKING:
    from roles.spec import HostSpec

HERE = Path(__file__).parent
UNIT = "nginx.service"
SITE = "/etc/nginx/conf.d/sovereign-edge.conf"
DEBIAN_SITE = "/etc/nginx/sites-enabled/default"
DROPIN = f"/etc/systemd/system/{UNIT}.d/50-sovereign-hardening.conf"
CERT = f"{TLS_DIR}/edge.crt"
KEY = f"{TLS_DIR}/edge.key"


@deploy("Edge")
def edge(spec: HostSpec) -> None:
    install()
    activate(configure(spec))


def install() -> None:
    common.packages(name="Install nginx", packages=["nginx"], update=True)


@dataclass(frozen=True)
class Configured:
    unit: OperationMeta  # the hardening drop-in: restart
    site: list[OperationMeta]  # site, certificate, key, Debian's site gone: reload


def configure(spec: HostSpec) -> Configured:
    tls = certificate(spec, "edge", [*spec.edge.server_names, *edge_names(spec)])
    cert = common.put(name="Install the edge certificate", src=str(tls.server_cert), dest=CERT,
                      mode="644")  # fmt: skip
    key = common.put(name="Install the edge key", src=str(tls.server_key), dest=KEY,
                     user="root", group="root", mode="600")  # fmt: skip
    default = common.absent(name="Disable Debian's default site (port 80, nginx's welcome page)",
                            path=DEBIAN_SITE)  # fmt: skip
    site = common.template(name="Configure the edge (HTTPS in front of the agent)",
                           src=str(HERE / "sovereign-edge.conf.j2"), dest=SITE,
                           **render_args(spec, CERT, KEY))  # fmt: skip
    unit = common.template(name="Harden the nginx unit (drop-in)",
                           src=str(HERE / "nginx-hardening.conf.j2"), dest=DROPIN)  # fmt: skip
    return Configured(unit=unit, site=[cert, key, default, site])


def activate(configured: Configured) -> None:
    """Check the whole configuration before nginx reads it; restart for the unit, reload
    (no dropped connection) for the site or certificate."""
    site_changed = any_changed(*configured.site)
    any_change = any_changed(configured.unit, *configured.site)
    server.shell(name="Check the nginx configuration (nginx -t)", commands=["nginx -t -q"],
                 _if=any_change)  # fmt: skip
    systemd.daemon_reload(name="Reload systemd units", _if=configured.unit.did_change)
    start = common.service(name=f"Run {UNIT}", unit=UNIT)
    systemd.service(
        name=f"Restart {UNIT} for its hardened unit",
        service=UNIT,
        restarted=True,
        _if=lambda: configured.unit.did_change() and not start.did_change(),
    )
    systemd.service(
        name=f"Reload {UNIT} for its new site or certificate",
        service=UNIT,
        reloaded=True,
        _if=lambda: site_changed() and not (configured.unit.did_change() or start.did_change()),
    )
