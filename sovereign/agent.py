"""`sovereign agent token create|list|revoke INVENTORY …` and `sovereign agent audit verify
INVENTORY`: the agent's tokens and audit log on each host, over the SSH connection the deploy
uses (pinned host keys), by running the agent's own admin CLI there::

    env APPLIANCE_CONFIG_FILE=/etc/sovereign/agent.toml \\
        /opt/sovereign/agent/bin/python -m appliance.security token create --name N --role R

as root (``sudo -n`` first when the inventory's ``ssh_user`` is not root). Each host's agent
has its own database, so ``token create`` makes one token per host: printed on stdout as
``HOST TOKEN`` lines, once; everything else goes to stderr.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from controller.errors import SovereignError
from controller.tunnel import ssh_transport
from sovereign.inventory import InventoryHost, load_inventory

#: Where the agent role installs the agent and its config (roles/agent).
AGENT_PYTHON = "/opt/sovereign/agent/bin/python"
AGENT_CONFIG = "/etc/sovereign/agent.toml"
TIMEOUT_S = 120.0


@dataclass(frozen=True)
class HostResult:
    host: str
    returncode: int
    stdout: str
    stderr: str


Runner = Callable[[InventoryHost, str], HostResult]


def host_command(
    args: Sequence[str],
    ssh_user: str | None,
    python: str = AGENT_PYTHON,
    config: str = AGENT_CONFIG,
) -> str:
    """The shell command that runs ``python -m appliance.security ARGS`` on a host (pure)."""
    argv = ["env", f"APPLIANCE_CONFIG_FILE={config}", python, "-m", "appliance.security", *args]
    if ssh_user and ssh_user != "root":
        argv = ["sudo", "-n", *argv]
    return shlex.join(argv)


def run_over_ssh(host: InventoryHost, command: str) -> HostResult:
    """Run ``command`` on ``host`` over SSH; its exit status, stdout and stderr."""
    try:
        with ssh_transport(host.data, host.name) as transport:
            channel = transport.open_session()
            channel.settimeout(TIMEOUT_S)
            channel.exec_command(command)
            stdout = channel.makefile("rb").read().decode(errors="replace")
            stderr = channel.makefile_stderr("rb").read().decode(errors="replace")
            return HostResult(host.name, channel.recv_exit_status(), stdout, stderr)
    except OSError as exc:
        raise SovereignError(f"{host.name}: cannot reach it over SSH: {exc}") from None


def select_hosts(inventory: str, limit: str | None) -> list[InventoryHost]:
    hosts = load_inventory(inventory)
    if limit:
        wanted = set(limit.split(","))
        hosts = [h for h in hosts if h.name in wanted or wanted & set(h.groups)]
        if not hosts:
            raise SovereignError(f"--limit {limit} matches no host of {inventory}")
    return hosts


def run_everywhere(
    hosts: list[InventoryHost],
    args: Sequence[str],
    say: Callable[[str], None],
    run: Runner = run_over_ssh,
) -> list[HostResult]:
    """``appliance.security ARGS`` on every host; the host's stderr is relayed through ``say``
    (never its stdout: callers decide what of it to show)."""
    results = []
    for host in hosts:
        result = run(host, host_command(args, host.data.get("ssh_user")))
        for line in result.stderr.splitlines():
            say(f"{host.name}: {line}")
        results.append(result)
    return results


def create_token(
    hosts: list[InventoryHost],
    name: str,
    role: str,
    expires_in_days: float | None,
    echo: Callable[[str], None],
    say: Callable[[str], None],
    run: Runner = run_over_ssh,
) -> bool:
    """One token per host, each printed once as ``HOST TOKEN`` through ``echo``."""
    args = ["token", "create", "--name", name, "--role", role]
    if expires_in_days is not None:
        args += ["--expires-in", f"{expires_in_days:g}"]
    ok = True
    for result in run_everywhere(hosts, args, say, run):
        token = result.stdout.strip()
        if result.returncode == 0 and token:
            echo(f"{result.host} {token}")
        else:
            ok = False
            say(f"{result.host}: token create failed (exit {result.returncode})")
    return ok


def relay(
    hosts: list[InventoryHost],
    args: Sequence[str],
    echo: Callable[[str], None],
    say: Callable[[str], None],
    run: Runner = run_over_ssh,
) -> bool:
    """Run ``args`` on every host and show each one's stdout under its name (no secrets:
    list, revoke, audit verify)."""
    ok = True
    for result in run_everywhere(hosts, args, say, run):
        for line in result.stdout.splitlines():
            echo(f"{result.host}: {line}")
        ok = ok and result.returncode == 0
    return ok
