"""Loading an operator's pyinfra inventory on the controller, without connecting to any host."""

from __future__ import annotations

import json
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from controller.errors import SovereignError
from controller.paths import PROJECT_ROOT, pyinfra_bin

EXCEPTION_LINE = re.compile(r"^[\w.]+(?:Error|Exception): (.+)$")


@dataclass(frozen=True)
class InventoryHost:
    name: str
    groups: tuple[str, ...]
    data: dict[str, Any]

    @property
    def ssh_hostname(self) -> str:
        return str(self.data.get("ssh_hostname") or self.name)


def load_inventory(path: str) -> list[InventoryHost]:
    """The hosts of an inventory file with their merged data (host, group and group_data files).

    Asks pyinfra itself (`debug-inventory --json`) in a child process: importing pyinfra_cli
    here would monkey-patch this process with gevent.
    """
    if not Path(path).is_file():
        raise SovereignError(f"inventory {path} does not exist")
    proc = subprocess.run(
        [pyinfra_bin(), path, "debug-inventory", "--json"],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
    )
    if proc.returncode != 0:
        raise SovereignError(f"inventory {path} could not be loaded:\n{_error_tail(proc.stderr)}")
    hosts = [
        InventoryHost(h["name"], tuple(h.get("groups", ())), dict(h.get("data", {})))
        for h in json.loads(proc.stdout)
    ]
    if not hosts:
        raise SovereignError(f"inventory {path} has no hosts")
    return hosts


def _error_tail(stderr: str) -> str:
    # The last lines carry pyinfra's message (e.g. our SovereignError from inventory/lab.py).
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    if lines and (m := EXCEPTION_LINE.match(lines[-1])):
        return m.group(1)
    return "\n".join(lines[-4:])


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
