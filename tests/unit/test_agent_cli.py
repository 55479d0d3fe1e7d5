"""`sovereign agent token|audit …`: the command each host runs, and the whole round trip with
the host side run locally through a shell (the agent's real admin CLI on a real database)."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from appliance.database.connect import open_sqlite
from appliance.security.tokens import TokenService
from sovereign.agent import (
    AGENT_CONFIG,
    AGENT_PYTHON,
    HostResult,
    create_token,
    host_command,
    relay,
)
from sovereign.inventory import InventoryHost


def test_the_host_command_as_root_and_through_sudo() -> None:
    args = ["token", "create", "--name", "ops team", "--role", "admin"]
    as_root = host_command(args, "root")
    assert shlex.split(as_root) == [
        "env",
        f"APPLIANCE_CONFIG_FILE={AGENT_CONFIG}",
        AGENT_PYTHON,
        "-m",
        "appliance.security",
        *args,
    ]
    assert host_command(args, None) == as_root
    assert shlex.split(host_command(args, "deploy"))[:2] == ["sudo", "-n"]


class LocalHosts:
    """Runs each host's command here, in a shell, against that host's own agent.toml."""

    def __init__(self, tmp: Path, names: list[str]) -> None:
        self.configs: dict[str, Path] = {}
        self.hosts = []
        for name in names:
            config = tmp / name / "agent.toml"
            config.parent.mkdir()
            config.write_text(f'sqlite_path = "{tmp / name / "agent.db"}"\n')
            self.configs[name] = config
            self.hosts.append(InventoryHost(name, ("appliances",), {"ssh_user": "root"}))
        self.commands: list[str] = []

    def __call__(self, host: InventoryHost, command: str) -> HostResult:
        self.commands.append(command)
        local = command.replace(AGENT_PYTHON, sys.executable).replace(
            AGENT_CONFIG, str(self.configs[host.name])
        )
        proc = subprocess.run(
            ["bash", "-c", local],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(Path.cwd())},
        )
        return HostResult(host.name, proc.returncode, proc.stdout, proc.stderr)

    def tokens(self, name: str) -> TokenService:
        return TokenService(open_sqlite(self.configs[name].parent / "agent.db"))


@pytest.fixture
def local(tmp_path: Path) -> LocalHosts:
    return LocalHosts(tmp_path, ["h1", "h2"])


def test_create_list_revoke_and_verify_on_every_host(local: LocalHosts) -> None:
    out: list[str] = []
    err: list[str] = []
    assert create_token(local.hosts, "grafana", "viewer", 30, out.append, err.append, local)
    assert [line.split()[0] for line in out] == ["h1", "h2"]
    tokens = {line.split()[0]: line.split()[1] for line in out}
    assert tokens["h1"] != tokens["h2"]  # one per host's database
    for host, token in tokens.items():
        assert local.tokens(host).verify(token).name == "grafana"
    assert not [line for line in err for t in tokens.values() if t in line]
    assert "--expires-in 30" in local.commands[0]

    listed: list[str] = []
    assert relay(local.hosts, ["token", "list"], listed.append, err.append, local)
    assert sum("grafana" in line for line in listed) == 2
    assert not [line for line in listed for t in tokens.values() if t in line]

    out.clear()
    assert relay(local.hosts[:1], ["token", "revoke", "grafana"], out.append, err.append, local)
    assert out == ["h1: revoked token grafana (" + out[0].split("(", 1)[1]]
    assert not relay(local.hosts, ["token", "revoke", "grafana"], out.append, err.append, local)
    assert any(line.startswith("h1: error: no active token") for line in err)

    verified: list[str] = []
    assert relay(local.hosts, ["audit", "verify"], verified.append, err.append, local)
    assert verified[0].startswith("h1: audit log ok: 3 rows")
    assert verified[1].startswith("h2: audit log ok: 2 rows")


def test_a_failing_host_fails_the_command(local: LocalHosts) -> None:
    out: list[str] = []
    err: list[str] = []
    local.configs["h2"].write_text("bogus = 1\n")
    assert not create_token(local.hosts, "x", "admin", None, out.append, err.append, local)
    assert [line.split()[0] for line in out] == ["h1"]
    assert "h2: token create failed (exit 2)" in err
