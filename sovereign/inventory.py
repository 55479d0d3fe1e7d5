"""Loading an operator's pyinfra inventory on the controller, without connecting to any host."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sovereign.errors import SovereignError


@dataclass(frozen=True)
class InventoryHost:
    name: str
    groups: tuple[str, ...]
    data: dict[str, Any]

    @property
    def ssh_hostname(self) -> str:
        return str(self.data.get("ssh_hostname") or self.name)


def load_inventory(path: str) -> list[InventoryHost]:
    """The hosts of an inventory file with their merged data (host, group and group_data files)."""
    from pyinfra.api import State
    from pyinfra.context import ctx_state
    from pyinfra_cli.inventory import make_inventory

    if not Path(path).is_file():
        raise SovereignError(f"inventory {path} does not exist")
    try:
        # pyinfra executes inventory files inside a State context, as its CLI does.
        with ctx_state.use(State()):
            inventory = make_inventory(str(Path(path).resolve()))
    except SovereignError:
        raise
    except Exception as exc:
        raise SovereignError(f"inventory {path} could not be loaded: {exc}") from exc
    hosts = []
    for host in inventory:
        data = host.data.dict() if hasattr(host.data, "dict") else dict(host.data)
        hosts.append(InventoryHost(host.name, tuple(str(g) for g in host.groups), data))
    if not hosts:
        raise SovereignError(f"inventory {path} has no hosts")
    return hosts


def render_ssh_config(hosts: list[InventoryHost]) -> str:
    """An OpenSSH client config that reaches the hosts as pyinfra does (for testinfra)."""
    blocks = []
    for h in hosts:
        lines = [f"Host {h.name}", f"    HostName {h.ssh_hostname}"]
        if h.data.get("ssh_user"):
            lines.append(f"    User {h.data['ssh_user']}")
        if h.data.get("ssh_port"):
            lines.append(f"    Port {h.data['ssh_port']}")
        if h.data.get("ssh_key"):
            lines += [f"    IdentityFile {h.data['ssh_key']}", "    IdentitiesOnly yes"]
        if h.data.get("ssh_known_hosts_file"):
            lines.append(f"    UserKnownHostsFile {h.data['ssh_known_hosts_file']}")
        strict = h.data.get("ssh_strict_host_key_checking")
        if strict:
            lines.append(f"    StrictHostKeyChecking {strict}")
        lines += ["    ConnectTimeout 10", "    LogLevel ERROR"]
        blocks.append("\n".join(lines) + "\n")
    return "\n".join(blocks)
