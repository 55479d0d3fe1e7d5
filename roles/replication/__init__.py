"""Replication role: this host's datasets sent to a backup host, and, on a backup host, the
receiving side for every source of the inventory that names it.

Host spec: `replication` (roles/replication/settings.py) on the sending host; the backup host
needs nothing declared: the deploy finds its sources in the inventory (plan.links_to).

Sending (appliance/backup/replication.py, the agent's code, on a timer): the replication key
(made once on the controller, beside the host's CA), the backup host's SSH host key as the
controller knows it, the runner's config, the service and timer.
Receiving: the `sovereign-replica` account, whose authorized_keys lets each source's key run
only the replica shell (appliance/backup/replica_shell.py) under that source's prefix, through
a sudoers rule naming exactly those prefixes.

The backup host also prunes the replicas on sanoid's `backup` template, hourly (never the
newest snapshot of a replica: the next incremental's base).

A plain backup host (`kind = "backup"`, roles/replication/backup_host.py) has no agent: it
gets the pruner's venv from six wheels of the agent's wheelhouse (`backup_runner`) and a
firewall opening SSH only (`receiving_firewall`).

Stages: install (the replica shell) → configure (keys, account, config, units) → activate (the
timers).
"""

from __future__ import annotations

from dataclasses import asdict
from io import StringIO
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pyinfra.api import deploy
from pyinfra.api.operation import OperationMeta
from pyinfra.operations import systemd
from pyinfra.operations.util import any_changed

from appliance.backup import replica_shell
from controller.artifacts import WHEELHOUSE
from controller.sshkeys import ensure_key_pair, known_host_key
from roles import firewall as firewall_role
from roles.agent import WHEELHOUSE_DIR
from roles.agent import ops as agent_ops
from roles.artifacts import artifact_entry
from roles.common import ops as common
from roles.firewall import ops as firewall_ops
from roles.firewall.plan import ruleset
from roles.pki.settings import controller_dir
from roles.replication import ops
from roles.replication.backup_host import receiving_rules, runner_wheels, wheels_digest
from roles.replication.plan import (
    ACCOUNT,
    ACCOUNT_HOME,
    CONFIG_FILE,
    KEY_DIR,
    KEY_FILE,
    KNOWN_HOSTS,
    REPLICA_POLICY_FILE,
    SHELL,
    SUDOERS,
    Link,
    authorized_keys,
    known_hosts_line,
    link_of,
    links_to,
    replica_policy,
    runner_config,
    sudoers,
)
from roles.settings import RoleSettingsError

if TYPE_CHECKING:
    from roles.spec import HostSpec

HERE = Path(__file__).parent
SERVICE = "sovereign-replication.service"
TIMER = "sovereign-replication.timer"
# The fast datasets' own timer (tank/backups: the WAL archive), one run at a time with the other.
FAST_SERVICE = "sovereign-replication-fast.service"
FAST_TIMER = "sovereign-replication-fast.timer"
LOCK = "/var/lib/sovereign/replication/run.lock"
PRUNE_SERVICE = "sovereign-replica-prune.service"
PRUNE_TIMER = "sovereign-replica-prune.timer"
AGENT_PYTHON = "/opt/sovereign/agent/bin/python"
SHELL_SOURCE = Path(replica_shell.__file__)


def inventory_specs() -> dict[str, HostSpec]:
    """Every host of the inventory, validated (a source names its backup host by name)."""
    from pyinfra import host, inventory

    from roles.spec import current_host_spec, parse_host_spec

    specs = {}
    for other in inventory:
        specs[other.name] = (
            current_host_spec()
            if other.name == host.name
            else parse_host_spec(other.name, other.data.dict())  # type: ignore[no-untyped-call]
        )
    return specs


def _known_hosts_file(target: str) -> Path:
    from pyinfra import inventory

    data: dict[str, Any] = inventory.get_host(target).data.dict()  # type: ignore[no-untyped-call]
    return Path(data.get("ssh_known_hosts_file") or "~/.ssh/known_hosts").expanduser()


@deploy("Replication (send to / receive from backup hosts)")
def replication(spec: HostSpec) -> None:
    specs = inventory_specs()
    link = link_of(spec, specs)
    sources = links_to(spec.name, specs)
    if sources:
        receive(spec, sources, specs)
    if link is not None:
        send(spec, link)


def receive(spec: HostSpec, links: list[Link], specs: dict[str, HostSpec]) -> None:
    """The backup host's side: the replica shell, the account and its restricted keys."""
    common.put(name=f"Install {SHELL}", src=str(SHELL_SOURCE), dest=SHELL, mode="755")
    common.system_user(
        name=f"Account {ACCOUNT}", user=ACCOUNT, group=ACCOUNT, home=ACCOUNT_HOME, shell="/bin/sh"
    )
    common.directory(name=f"Create {ACCOUNT_HOME}", path=ACCOUNT_HOME, mode="755")
    common.directory(
        name=f"Create {ACCOUNT_HOME}/.ssh", path=f"{ACCOUNT_HOME}/.ssh", user=ACCOUNT,
        group=ACCOUNT, mode="700",
    )  # fmt: skip
    keyed = [
        (link, ensure_key_pair(controller_dir(specs[link.source]), f"replication@{link.source}")[1])
        for link in links
    ]
    common.put(
        name=f"Authorize {', '.join(link.source for link in links)} to replicate here",
        src=StringIO(authorized_keys(keyed)),
        dest=f"{ACCOUNT_HOME}/.ssh/authorized_keys",
        user=ACCOUNT,
        group=ACCOUNT,
        mode="600",
    )
    common.put(name=f"Install {SUDOERS}", src=StringIO(sudoers(links)), dest=SUDOERS, mode="440")
    if spec.kind == "backup":
        backup_runner(spec)
    prune_units(links)


def backup_runner(spec: HostSpec) -> list[OperationMeta]:
    """A plain backup host's Python for the pruner: the agent's wheel and pydantic's (a
    subset of the agent's wheelhouse, ~40 MB with pip) in the agent's venv, --no-deps."""
    entry = artifact_entry(spec, WHEELHOUSE)
    files = {str(k): str(v) for k, v in dict(entry["files"]).items()}  # type: ignore[call-overload]
    wheels = runner_wheels(files)
    common.packages(name="Install python3-venv", packages=["python3-venv"])
    synced = agent_ops.wheelhouse(
        name="Upload the replica pruner's wheels",
        src=str(spec.artifacts_dir / str(entry["file"])),
        dest=WHEELHOUSE_DIR,
        wheels=wheels,
    )
    installed = ops.install_runner(
        name="Install the replica pruner (the agent's code, no agent)",
        wheelhouse=WHEELHOUSE_DIR,
        digest=wheels_digest(wheels),
        wheels=sorted(wheels),
    )
    return [synced, installed]


@deploy("Host firewall (backup host: SSH only)")
def receiving_firewall(spec: HostSpec) -> None:
    """The firewall role's table and boot unit with a backup host's openings only."""
    firewall_role.install()
    unit = firewall_role.configure()
    found = receiving_rules(spec)
    text, digest = ruleset(found)
    firewall_ops.ruleset(
        name="Apply the host firewall (nft -c, then nft -f in one transaction)",
        path=firewall_role.RULESET, text=text, digest=digest,
        rules=[{**asdict(r), "sources": list(r.sources)} for r in found],
    )  # fmt: skip
    systemd.daemon_reload(name="Reload systemd units", _if=unit.did_change)
    common.service(name=f"Enable {firewall_role.UNIT}", unit=firewall_role.UNIT)


def prune_units(links: list[Link]) -> None:
    """The replicas' retention on the backup host: the snapshot runner (the agent's code) over
    them, hourly, skipping replicas not received yet."""
    common.put(name=f"Render {REPLICA_POLICY_FILE}", src=StringIO(replica_policy(links)),
               dest=REPLICA_POLICY_FILE)  # fmt: skip
    service = common.template(
        name=f"Install {PRUNE_SERVICE}",
        src=str(HERE / f"{PRUNE_SERVICE}.j2"),
        dest=f"/etc/systemd/system/{PRUNE_SERVICE}",
        python=AGENT_PYTHON,
        config=REPLICA_POLICY_FILE,
        state="/var/lib/sovereign/replication/prune-state.json",
        protect="/var/lib/sovereign/replication/replica-protected.txt",
    )
    timer = common.put(
        name=f"Install {PRUNE_TIMER}",
        src=str(HERE / PRUNE_TIMER),
        dest=f"/etc/systemd/system/{PRUNE_TIMER}",
    )
    systemd.daemon_reload(name="Reload systemd units", _if=any_changed(service, timer))
    common.service(name=f"Run {PRUNE_TIMER}", unit=PRUNE_TIMER)


def send(spec: HostSpec, link: Link) -> None:
    """The source's side: key, trust in the backup host, config, units, timer."""
    private, _ = ensure_key_pair(controller_dir(spec), f"replication@{spec.name}")
    try:
        key_type, key_b64 = known_host_key(_known_hosts_file(link.target), link.address, link.port)
    except Exception as exc:
        raise RoleSettingsError(f"host {spec.name}: replication to {link.target}: {exc}") from None
    common.directory(name=f"Create {KEY_DIR}", path=KEY_DIR, mode="700")
    common.put(name=f"Install the replication key {KEY_FILE}", src=StringIO(private.decode()),
               dest=KEY_FILE, mode="600")  # fmt: skip
    # The known host and the config are read by the runner at each run: nothing to restart.
    common.put(
        name=f"Trust {link.target}'s SSH host key",
        src=StringIO(known_hosts_line(link, key_type, key_b64)),
        dest=KNOWN_HOSTS,
        mode="644",
    )
    common.put(
        name=f"Render {CONFIG_FILE}",
        src=StringIO(runner_config(link, spec.replication.timeout_s)),
        dest=CONFIG_FILE,
    )
    fast = [d for d in spec.replication.fast_datasets if d in link.datasets]
    changed = []
    for service_name, timer_name, only, calendar in (
        (SERVICE, TIMER, [], spec.replication.on_calendar),
        (FAST_SERVICE, FAST_TIMER, fast, spec.replication.fast_on_calendar),
    ):
        if service_name == FAST_SERVICE and not fast:
            continue
        changed.append(common.template(
            name=f"Install {service_name}",
            src=str(HERE / "sovereign-replication.service.j2"),
            dest=f"/etc/systemd/system/{service_name}",
            python=AGENT_PYTHON, config=CONFIG_FILE, target=link.target, only=only, lock=LOCK,
            timeout_s=spec.replication.timeout_s * max(1, len(only or link.datasets)),
        ))  # fmt: skip
        changed.append(common.template(
            name=f"Install {timer_name}",
            src=str(HERE / "sovereign-replication.timer.j2"),
            dest=f"/etc/systemd/system/{timer_name}",
            target=link.target, only=only, on_calendar=calendar,
        ))  # fmt: skip
    systemd.daemon_reload(name="Reload systemd units", _if=any_changed(*changed))
    common.service(name=f"Run {TIMER}", unit=TIMER)
    if fast:
        common.service(name=f"Run {FAST_TIMER}", unit=FAST_TIMER)
