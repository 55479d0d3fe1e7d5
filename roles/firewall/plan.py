"""Pure decisions of the firewall role: which ports are open to whom, the nftables ruleset
text, and whether it would admit the deploy's own SSH session."""

from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import jinja2

from roles.firewall.settings import EVERYWHERE

if TYPE_CHECKING:
    from roles.spec import HostSpec

HERE = Path(__file__).parent
TABLE = "sovereign"
REDPANDA_RPC_PORT = 33145


@dataclass(frozen=True)
class Rule:
    """Inbound `protocol`/`port` accepted from `sources` (addresses or networks)."""

    port: int
    protocol: str
    sources: tuple[str, ...]
    comment: str

    @property
    def v4(self) -> list[str]:
        return [s for s in self.sources if ipaddress.ip_network(s).version == 4]

    @property
    def v6(self) -> list[str]:
        return [s for s in self.sources if ipaddress.ip_network(s).version == 6]

    @property
    def anywhere(self) -> bool:
        return set(EVERYWHERE) <= set(self.sources)

    def admits(self, address: str, port: int, protocol: str = "tcp") -> bool:
        ip = ipaddress.ip_address(address)
        return (self.port, self.protocol) == (port, protocol) and any(
            ip in ipaddress.ip_network(s) for s in self.sources
        )


def admin_sources(spec: HostSpec) -> tuple[str, ...]:
    return tuple(spec.firewall.admin_networks or EVERYWHERE)


def rules(spec: HostSpec) -> list[Rule]:
    """Every opening of the host, in a stable order."""
    from roles.postgres.settings import resolve_networks

    found = [Rule(spec.ssh_port, "tcp", admin_sources(spec), "ssh (admin networks)")]
    for port in spec.edge.ports:
        found.append(Rule(port, "tcp", tuple(EVERYWHERE), "edge"))
    pg_networks = resolve_networks(spec.postgres, spec.appliance_subnet)
    if pg_networks:
        found.append(Rule(spec.postgres.port, "tcp", tuple(pg_networks), "postgresql (TLS only)"))
    peers = tuple(str(ipaddress.ip_network(p)) for p in spec.peers)
    if peers:
        if spec.vault is not None:
            found.append(Rule(spec.vault.port, "tcp", peers, "vault api (peers)"))
            found.append(Rule(spec.vault.cluster_port, "tcp", peers, "vault cluster (peers)"))
        if spec.broker.flavour == "redpanda":
            found.append(Rule(spec.broker.port, "tcp", peers, "broker sasl+tls (peers)"))
            found.append(Rule(REDPANDA_RPC_PORT, "tcp", peers, "redpanda rpc (peers)"))
    for opening in spec.firewall.allow:
        found.append(
            Rule(opening.port, opening.protocol, tuple(opening.sources),
                 opening.comment or "allow")
        )  # fmt: skip
    return found


def admits_session(found: list[Rule], client: str, server_port: int) -> bool:
    """Whether the ruleset accepts new SSH connections like the deploy's own session."""
    try:
        ipaddress.ip_address(client)
    except ValueError:
        return False
    return any(rule.admits(client, server_port) for rule in found)


def _template() -> jinja2.Template:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE), keep_trailing_newline=True,
        autoescape=False,  # noqa: S701 - an nftables file, not HTML
        undefined=jinja2.StrictUndefined,
    )  # fmt: skip
    return env.get_template("firewall.nft.j2")


def ruleset(found: list[Rule]) -> tuple[str, str]:
    """(the nftables file, its digest). The digest is in the table's comment, so the live
    table tells which file it was loaded from."""
    template = _template()
    body = template.render(rules=found, table=TABLE, digest="")
    digest = hashlib.sha256(body.encode()).hexdigest()[:16]
    return template.render(rules=found, table=TABLE, digest=digest), digest
