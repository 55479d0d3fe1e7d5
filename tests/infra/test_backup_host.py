"""A plain backup host (`kind = "backup"`): the replication role's receiving side for each
source that names it (the account, its restricted keys, the replica shell, the sudoers rule,
the replicas' pruning on the pruner's own venv) and nothing of the appliance running."""

from __future__ import annotations

from typing import Any

import pytest

from tests.infra.expected import HostData, is_backup_host, pools

ACCOUNT = "sovereign-replica"
HOME = "/var/lib/sovereign-replica"
SHELL = "/usr/local/lib/sovereign/replica-shell"
SUDOERS = "/etc/sudoers.d/sovereign-replica"
PRUNE_TIMER = "sovereign-replica-prune.timer"
PYTHON = "/opt/sovereign/agent/bin/python"
#: What an appliance runs and a backup host must not.
APPLIANCE_UNITS = (
    "sovereign-agent.service", "postgresql.service", "nginx.service", "openbao.service",
    "postfix.service", "tansu.service", "sovereign-snapshots.timer",
)  # fmt: skip


@pytest.fixture(scope="module")
def sources(host_data: HostData, host_name: str, inventory_hosts: dict[str, HostData]) -> dict[
    str, tuple[str, str]
]:  # fmt: skip
    """The hosts replicating here: name → (their address, their prefix here)."""
    if not is_backup_host(host_data):
        pytest.skip("not a backup host")
    pool = pools(host_data)[0].name
    found = {}
    for name, data in inventory_hosts.items():
        replication = data.get("replication") or {}
        if replication.get("target") == host_name:
            prefix = replication.get("prefix") or f"{pool}/replicas/{name}"
            found[name] = (str(data.get("ssh_hostname")), prefix)
    return found


def test_the_replica_shell_is_roots_and_runs_on_the_system_python(
    host: Any, sources: dict[str, tuple[str, str]]
) -> None:
    shell = host.file(SHELL)
    assert (shell.user, shell.group, shell.mode) == ("root", "root", 0o755)
    assert shell.content_string.startswith("#!/usr/bin/python3")
    assert host.file("/usr/bin/python3").exists


def test_each_source_may_only_run_the_replica_shell_under_its_prefix(
    host: Any, sources: dict[str, tuple[str, str]]
) -> None:
    assert sources, "no host of the inventory replicates here"
    keys = host.file(f"{HOME}/.ssh/authorized_keys")
    assert (keys.user, keys.mode) == (ACCOUNT, 0o600)
    lines = [line for line in keys.content_string.splitlines() if not line.startswith("#")]
    assert len(lines) == len(sources)
    for address, prefix in sources.values():
        wanted = f'restrict,from="{address}",command="sudo -n {SHELL} {prefix}" '
        assert any(line.startswith(wanted) for line in lines), (wanted, lines)
    rules = host.file(SUDOERS)
    assert (rules.user, rules.mode) == ("root", 0o440)
    for _, prefix in sources.values():
        assert rules.contains(f"{ACCOUNT} ALL=(root) NOPASSWD: {SHELL} {prefix}")
    assert host.run(f"visudo -c -q -f {SUDOERS}").rc == 0


def test_the_account_has_no_password_and_no_login_shell_beyond_sh(
    host: Any, sources: dict[str, tuple[str, str]]
) -> None:
    user = host.user(ACCOUNT)
    assert user.exists and user.home == HOME
    assert user.password in ("!", "*", "!*", "!!")


def test_the_replicas_are_pruned_hourly_by_the_agents_code_without_the_agent(
    host: Any, sources: dict[str, tuple[str, str]]
) -> None:
    assert host.service(PRUNE_TIMER).is_enabled
    assert host.run(f"{PYTHON} -c 'import appliance.backup.__main__'").rc == 0
    # Installed without dependencies: the agent's web stack is not there.
    assert host.run(f"{PYTHON} -c 'import fastapi'").rc != 0


@pytest.mark.parametrize("unit", APPLIANCE_UNITS)
def test_nothing_of_the_appliance_runs_here(
    host: Any, sources: dict[str, tuple[str, str]], unit: str
) -> None:
    assert not host.service(unit).is_running
    assert not host.file(f"/etc/systemd/system/{unit}").exists
