"""`sovereign lab up/down/status`: bring a lab to the wanted state, changing only what differs."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from controller.errors import SovereignError
from sovereign.lab import hosts, network, rootfs
from sovereign.lab.state import (
    LabPaths,
    LabState,
    all_states,
    load_state,
    pick_subnet,
    save_state,
    validate_lab_name,
)
from sovereign.prereq import require_lab_prerequisites
from sovereign.progress import Progress
from sovereign.system import run


def render_ssh_config(paths: LabPaths, state: LabState) -> str:
    blocks = []
    for host in state.hosts.values():
        blocks.append(
            f"Host {host.name} {host.address}\n"
            f"    HostName {host.address}\n"
            "    User root\n"
            f"    IdentityFile {paths.ssh_key}\n"
            "    IdentitiesOnly yes\n"
            f"    UserKnownHostsFile {paths.known_hosts}\n"
            "    StrictHostKeyChecking yes\n"
            "    ConnectTimeout 5\n"
            "    LogLevel ERROR\n"
        )
    return "\n".join(blocks)


def render_known_hosts(state: LabState) -> str:
    # The lab generated each host key itself, so hosts are pinned from the start.
    return "".join(f"{h.name},{h.address} {h.host_key}\n" for h in state.hosts.values())


def write_client_files(paths: LabPaths, state: LabState) -> None:
    paths.ssh_config.write_text(render_ssh_config(paths, state))
    paths.known_hosts.write_text(render_known_hosts(state))


@dataclass
class UpResult:
    state: LabState
    booted: list[str]
    created: list[str]


def lab_up(name: str, count: int, disks: int, disk_size: str, progress: Progress) -> UpResult:
    validate_lab_name(name)
    if count < 1:
        raise SovereignError(f"--hosts must be at least 1, got {count}")
    if disks < 0:
        raise SovereignError(f"--disks must not be negative, got {disks}")
    require_lab_prerequisites()
    paths = LabPaths(name)
    paths.dir.mkdir(parents=True, exist_ok=True)

    state = load_state(name)
    if state is None:
        taken = [s.subnet for s in all_states()]
        state = LabState(name=name, subnet=pick_subnet(name, taken), disk_size=disk_size)
        save_state(state)
    elif disk_size != state.disk_size and state.hosts:
        progress.say(f"note: existing hosts keep their {state.disk_size} disks")

    if not paths.ssh_key.exists():
        run(
            [
                "ssh-keygen",
                "-q",
                "-t",
                "ed25519",
                "-N",
                "",
                "-C",
                f"sovereign-lab-{name}",
                "-f",
                str(paths.ssh_key),
            ]
        )

    ensure_operator_age_key(paths.operator_age_key)

    if network.ensure_bridge(state.bridge, f"{state.gateway}/{state.network.prefixlen}"):
        progress.say(f"bridge {state.bridge} set to {state.gateway}/{state.network.prefixlen}")
    if network.ensure_nat(name, state.subnet):
        progress.say(f"NAT for {state.subnet} set (one rule)")

    created, booted = [], []
    base: Path | None = None
    for index in range(1, count + 1):
        host_name = state.host_name(index)
        host = state.hosts.get(host_name)
        if host is None or not Path(host.root, "etc", "os-release").exists():
            base = base or rootfs.ensure_base_root(progress)
            with progress.step(f"creating host {host_name} ({disks} x {state.disk_size} disks)"):
                host = hosts.create_host(state, index, base, disks)
                state.hosts[host_name] = host
                save_state(state)
            created.append(host_name)
    extra = sorted(set(state.hosts) - {state.host_name(i) for i in range(1, count + 1)})
    if extra:
        progress.say(f"note: lab has more hosts than asked for, left as they are: {extra}")
    write_client_files(paths, state)

    for host in state.hosts.values():
        hosts.settle(host)  # a supervisor between two boots: let it boot or exit
        pids = hosts.find_nspawn_pids(host.root)
        supervisors = hosts.find_supervisor_pids(host.root)
        if len(pids) > 1 or len(supervisors) > 1:
            raise SovereignError(
                f"host {host.name} runs {len(pids)} times (pids {pids}, supervisors "
                f"{supervisors}): run `sovereign lab down --lab {name}` and up again"
            )
        if pids or supervisors:
            host.pid = pids[0] if pids else None
            host.supervisor = supervisors[0] if supervisors else None
            if not supervisors:
                progress.say(
                    f"note: host {host.name} runs without a supervisor, so a reboot inside it "
                    f"will not bring it back: `sovereign lab down --lab {name}` and up again"
                )
            continue
        orphans = hosts.kill_orphans(host)
        if orphans:
            progress.say(f"host {host.name}: killed a container left without its nspawn {orphans}")
        if hosts.remove_stale_veth(host):
            progress.say(f"host {host.name}: removed its stale interface {hosts.veth_name(host)}")
        with progress.step(f"booting host {host.name} at {host.address}"):
            host.supervisor = hosts.boot_host(state, host)
            save_state(state)
            hosts.wait_ready(paths, host)
            host.pid = next(iter(hosts.find_nspawn_pids(host.root)), None)
        booted.append(host.name)
    save_state(state)
    # A host that was already running is checked too: `up` promises SSH-ready hosts.
    for host in state.hosts.values():
        if host.name not in booted:
            hosts.wait_ready(paths, host, timeout=30)
    return UpResult(state=state, booted=booted, created=created)


def lab_down(name: str, progress: Progress) -> None:
    validate_lab_name(name)
    require_lab_prerequisites()
    paths = LabPaths(name)
    state = load_state(name)
    if state is not None:
        for host in state.hosts.values():
            if hosts.is_running(host):
                with progress.step(f"stopping host {host.name}"):
                    hosts.stop_host(paths, host)
            elif hosts.kill_orphans(host):
                progress.say(f"host {host.name}: killed a container left without its nspawn")
        network.remove_bridge(state.bridge)
    network.remove_nat(name)
    if paths.dir.exists():
        with progress.step(f"removing lab {name} ({paths.dir})"):
            # --one-file-system: never follow a bind mount that a dying host left behind.
            run(["rm", "-rf", "--one-file-system", str(paths.dir)])
    progress.say(f"lab {name} is down")


def lab_destroy_host(name: str, host_name: str, progress: Progress) -> None:
    """Destroy one host as a disaster would: stop it, delete its root file system and its
    disks, forget it. The lab's network, its SSH key, its operator identity and the controller
    side of the host (CA, Vault keys: `vault/HOST`) stay, as they do when a real machine dies.
    `sovereign lab up --hosts N` then creates it again, empty, at its address."""
    validate_lab_name(name)
    state = load_state(name)
    if state is None:
        raise SovereignError(f"lab {name} is not up")
    host = state.hosts.get(host_name)
    if host is None:
        raise SovereignError(f"lab {name} has no host {host_name!r}; hosts: {sorted(state.hosts)}")
    require_lab_prerequisites()
    paths = LabPaths(name)
    if hosts.is_running(host):
        with progress.step(f"stopping host {host.name}"):
            hosts.stop_host(paths, host)
    elif hosts.kill_orphans(host):
        progress.say(f"host {host.name}: killed a container left without its nspawn")
    host_dir = paths.host_dir(host.name)
    if host_dir.exists():
        with progress.step(f"deleting host {host.name}'s root file system and disks"):
            # --one-file-system: never follow a bind mount that a dying host left behind.
            run(["rm", "-rf", "--one-file-system", str(host_dir)])
    del state.hosts[host.name]
    save_state(state)
    write_client_files(paths, state)  # its pinned host key goes: a new host gets a new one
    progress.say(f"host {host.name} destroyed (the controller's {paths.vault_dir(host.name)} kept)")


@dataclass
class HostStatus:
    name: str
    address: str
    state: str  # running / rebooting / stopped


def host_status(nspawn: bool, supervisor: bool) -> str:
    if nspawn:
        return "running"
    return "rebooting" if supervisor else "stopped"


def lab_status(name: str) -> tuple[LabState | None, list[HostStatus]]:
    validate_lab_name(name)
    state = load_state(name)
    if state is None:
        return None, []
    return state, [
        HostStatus(
            h.name,
            h.address,
            host_status(
                bool(hosts.find_nspawn_pids(h.root)), bool(hosts.find_supervisor_pids(h.root))
            ),
        )
        for h in state.hosts.values()
    ]


def lab_ssh_argv(name: str, host: str, command: list[str]) -> list[str]:
    state = load_state(validate_lab_name(name))
    if state is None:
        raise SovereignError(f"lab {name} is not up: run `sovereign lab up`")
    if host not in state.hosts:
        raise SovereignError(f"lab {name} has no host {host!r}; hosts: {sorted(state.hosts)}")
    if shutil.which("ssh") is None:
        raise SovereignError("ssh is missing: install with `apt-get install -y openssh-client`")
    return [*hosts.ssh_argv(LabPaths(name), host), *command]


def ensure_operator_age_key(path: Path) -> None:
    """An age identity standing in for the operator's own: lab Vaults encrypt their init keys
    to it, as production ones do to the operator's key."""
    if path.exists():
        return
    import pyrage

    identity = pyrage.x25519.Identity.generate()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(f"# public key: {identity.to_public()}\n{identity}\n")


def operator_age_recipient(path: Path) -> str:
    for line in path.read_text().splitlines():
        if line.startswith("# public key: "):
            return line.removeprefix("# public key: ").strip()
    raise SovereignError(f"{path} has no '# public key:' line")
