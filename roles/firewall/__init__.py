"""Firewall role: the host's inbound firewall in nftables (table `inet sovereign`), default drop.

Open: loopback, replies, essential ICMP, SSH from the admin networks, the edge's ports, the
peer ports to declared peers, PostgreSQL (TLS only) to its declared networks, and `allow`.
The ruleset is checked (`nft -c`) before it replaces the file, applied in one transaction, and
loaded at boot by `sovereign-firewall.service`. A ruleset that would not admit the deploy's own
SSH session is refused before anything changes (preflight already refuses one that drops SSH
from everywhere).

Stages: install (nftables) → configure (the boot unit) → activate (apply the ruleset, enable
the unit).
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from pyinfra import logger
from pyinfra.api import deploy
from pyinfra.api.operation import OperationMeta
from pyinfra.operations import systemd

from roles.common import ops as common
from roles.firewall import ops
from roles.firewall.plan import rules, ruleset

if TYPE_CHECKING:
    from roles.spec import HostSpec

HERE = Path(__file__).parent
RULESET = "/etc/sovereign/firewall.nft"
UNIT = "sovereign-firewall.service"


@deploy("Host firewall")
def firewall(spec: HostSpec) -> None:
    if spec.firewall.admin_networks is None:
        logger.warning(
            f"[{spec.name}] WARNING: firewall.admin_networks is not set: SSH (port "
            f"{spec.ssh_port}) is open to ANY address. Set it to the operators' networks."
        )
    install()
    activate(spec, configure())


def install() -> None:
    common.packages(name="Install nftables", packages=["nftables"], update=True)


def configure() -> OperationMeta:
    return common.put(name=f"Install {UNIT} (loads the ruleset at boot)",
                      src=str(HERE / "sovereign-firewall.service"),
                      dest=f"/etc/systemd/system/{UNIT}")  # fmt: skip


def activate(spec: HostSpec, unit: OperationMeta) -> None:
    found = rules(spec)
    text, digest = ruleset(found)
    ops.ruleset(
        name="Apply the host firewall (nft -c, then nft -f in one transaction)",
        path=RULESET, text=text, digest=digest,
        rules=[{**asdict(r), "sources": list(r.sources)} for r in found],
    )  # fmt: skip
    systemd.daemon_reload(name="Reload systemd units", _if=unit.did_change)
    # Enabled for the next boot; "running" (RemainAfterExit) once it has loaded the file.
    common.service(name=f"Enable {UNIT}", unit=UNIT)
