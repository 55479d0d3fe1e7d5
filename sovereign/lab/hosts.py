"""One lab host: its root file system, identity, disks, and the systemd-nspawn process."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from controller.errors import SovereignError
from sovereign.lab.state import HostState, LabPaths, LabState
from sovereign.system import run

DISKS_MOUNT = "/lab/disks"
SUPERVISOR_MODULE = "sovereign.lab.supervise"


def network_file(address: str, prefixlen: int, gateway: str) -> str:
    # Named 10-… so it wins over the vendor 80-container-host0.network (DHCP).
    return f"[Match]\nName=host0\n\n[Network]\nAddress={address}/{prefixlen}\nGateway={gateway}\n"


def create_host(state: LabState, index: int, base_root: Path, disks: int) -> HostState:
    """Copy the base root for a new host and give it its own identity, network and disks."""
    name = state.host_name(index)
    paths = LabPaths(state.name)
    host_dir = paths.host_dir(name)
    root = host_dir / "root"
    if host_dir.exists():
        run(["rm", "-rf", "--one-file-system", str(host_dir)])
    host_dir.mkdir(parents=True)
    run(["cp", "-a", "--reflink=auto", str(base_root), str(root)])

    address = state.host_address(index)
    (root / "etc" / "hostname").write_text(f"{name}\n")
    (root / "etc" / "hosts").write_text(f"127.0.0.1\tlocalhost\n127.0.1.1\t{name}\n")
    (root / "etc" / "machine-id").write_text(uuid.uuid4().hex + "\n")
    net = root / "etc" / "systemd" / "network" / "10-host0.network"
    net.parent.mkdir(parents=True, exist_ok=True)
    net.write_text(network_file(address, state.network.prefixlen, state.gateway))
    resolv = root / "etc" / "resolv.conf"
    resolv.unlink(missing_ok=True)
    resolv.write_text(Path("/etc/resolv.conf").read_text())

    ssh_dir = root / "root" / ".ssh"
    ssh_dir.mkdir(mode=0o700, exist_ok=True)
    (ssh_dir / "authorized_keys").write_text(Path(f"{paths.ssh_key}.pub").read_text())
    (ssh_dir / "authorized_keys").chmod(0o600)
    host_key = root / "etc" / "ssh" / "ssh_host_ed25519_key"
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"root@{name}", "-f", str(host_key)])
    public = host_key.with_suffix(".pub").read_text().split()

    disk_dir = host_dir / "disks"
    disk_dir.mkdir()
    disk_paths = []
    for n in range(1, disks + 1):
        disk = disk_dir / f"disk{n}"
        run(["truncate", "-s", state.disk_size, str(disk)])  # sparse: costs nothing until written
        disk_paths.append(f"{DISKS_MOUNT}/disk{n}")
    return HostState(
        name=name,
        address=address,
        root=str(root),
        disks=disk_paths,
        host_key=f"{public[0]} {public[1]}",
    )


def nspawn_argv(state: LabState, host: HostState) -> list[str]:
    disk_dir = Path(host.root).parent / "disks"
    return [
        "systemd-nspawn",
        "--boot",
        f"--directory={host.root}",
        f"--machine={host.name}",
        # No host dbus/machined here: without these two nspawn refuses to start.
        "--register=no",
        "--keep-unit",
        "--console=passive",
        f"--network-bridge={state.bridge}",
        "--bind=/dev/fuse",  # zfs-fuse
        f"--bind={disk_dir}:{DISKS_MOUNT}",
        "--capability=CAP_IPC_LOCK",  # lets Vault/OpenBao mlock
    ]


def supervisor_argv(state: LabState, host: HostState) -> list[str]:
    """The supervisor that runs (and reboots) the host's nspawn; found again by `--directory=`."""
    return [
        sys.executable,
        "-m",
        SUPERVISOR_MODULE,
        f"--directory={host.root}",
        state.name,
        host.name,
    ]


def boot_host(state: LabState, host: HostState) -> int:
    """Start the host's supervisor, which boots it (and again after each reboot); its PID."""
    log = Path(host.root).parent / "console.log"
    with log.open("ab") as out:
        proc = subprocess.Popen(
            supervisor_argv(state, host),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd="/",
            start_new_session=True,  # outlives the CLI, never holds its terminal
        )
    return proc.pid


def _procs(filename: str, matches: Callable[[list[bytes]], bool]) -> list[int]:
    """PIDs whose /proc/PID/<filename> (NUL-separated) satisfies `matches`."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / filename).read_bytes().split(b"\0")
        except OSError:
            continue  # gone meanwhile, or not ours to read
        if matches(fields):
            pids.append(int(entry.name))
    return pids


def find_nspawn_pids(root: str) -> list[int]:
    """PIDs of systemd-nspawn processes running the given root directory."""
    flag = f"--directory={root}".encode()
    return _procs("cmdline", lambda argv: argv[0].endswith(b"systemd-nspawn") and flag in argv)


def find_supervisor_pids(root: str) -> list[int]:
    """PIDs of lab supervisors (sovereign.lab.supervise) of the host with this root."""
    module, flag = SUPERVISOR_MODULE.encode(), f"--directory={root}".encode()
    return _procs("cmdline", lambda argv: module in argv and flag in argv)


def machine_id(host: HostState) -> str | None:
    try:
        return Path(host.root, "etc", "machine-id").read_text().strip() or None
    except OSError:
        return None


def find_container_inits(machine: str) -> list[int]:
    """PIDs of container init processes booted from a root with this machine id.

    nspawn exports the machine id as `container_uuid` to the container's init. An init can
    outlive a SIGKILLed nspawn (keeping its veth and address), so it is found this way too.
    """
    want = b"container_uuid=" + str(uuid.UUID(machine)).encode()
    return _procs("environ", lambda env: b"container=systemd-nspawn" in env and want in env)


def kill_orphans(host: HostState) -> list[int]:
    """Kill container inits of this host left without their nspawn; return their PIDs."""
    if find_nspawn_pids(host.root):
        return []
    machine = machine_id(host)
    orphans = find_container_inits(machine) if machine else []
    for pid in orphans:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)  # PID 1 of its namespace: the whole container goes
    deadline = time.monotonic() + 10
    while machine and find_container_inits(machine) and time.monotonic() < deadline:
        time.sleep(0.1)
    return orphans


def veth_name(host: HostState) -> str:
    return f"vb-{host.name}"  # nspawn's host-side name; lab host names are short enough


def remove_stale_veth(host: HostState) -> bool:
    """Delete the host-side veth a dead container left behind (nspawn will not boot over it)."""
    link = Path("/sys/class/net") / veth_name(host)
    deadline = time.monotonic() + 3
    while link.exists() and time.monotonic() < deadline:
        time.sleep(0.1)  # the kernel usually removes it once the namespace is gone
    if link.exists():
        run(["ip", "link", "del", veth_name(host)], check=False)
        return True
    return False


def is_running(host: HostState) -> bool:
    """Up, booting or rebooting: its nspawn runs, or its supervisor is about to start one."""
    return bool(find_nspawn_pids(host.root) or find_supervisor_pids(host.root))


def settle(host: HostState, timeout: float = 10.0) -> None:
    """Wait while a supervisor runs without an nspawn: it is either booting the host again
    (a reboot) or about to exit (nspawn powered off, failed or was killed)."""
    deadline = time.monotonic() + timeout
    while (
        find_supervisor_pids(host.root)
        and not find_nspawn_pids(host.root)
        and time.monotonic() < deadline
    ):
        time.sleep(0.1)


def ssh_argv(paths: LabPaths, host: str, command: str | None = None) -> list[str]:
    argv = ["ssh", "-F", str(paths.ssh_config), host]
    return [*argv, command] if command else argv


def wait_ready(paths: LabPaths, host: HostState, timeout: float = 90.0) -> str:
    """Wait until SSH answers and systemd finished booting; return the system state."""
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        if not is_running(host):
            log = Path(host.root).parent / "console.log"
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-20:])
            raise SovereignError(f"lab host {host.name} exited while booting; console:\n{tail}")
        proc = run(
            ssh_argv(paths, host.name, "systemctl is-system-running --wait"),
            check=False,
            timeout=max(5.0, deadline - time.monotonic()),
        )
        state = proc.stdout.strip().splitlines()[-1:] or [""]
        if state[0] in ("running", "degraded"):
            return state[0]
        last = proc.stdout.strip()
        time.sleep(0.3)
    raise SovereignError(f"lab host {host.name} not ready after {timeout:.0f} s: {last}")


def stop_host(paths: LabPaths, host: HostState, timeout: float = 20.0) -> None:
    """Power the host off cleanly, never to be booted again by its supervisor (even one in
    the middle of a reboot); fall back to signals if it does not go."""
    supervisors = find_supervisor_pids(host.root)
    pids = find_nspawn_pids(host.root)
    if not supervisors and not pids:
        kill_orphans(host)
        return
    if supervisors:
        _signal(supervisors, signal.SIGTERM)  # it stops booting and shuts nspawn down cleanly
    else:
        run(ssh_argv(paths, host.name, "systemctl poweroff --no-block"), check=False, timeout=10)
    if not _wait_gone(host, timeout):
        for sig in (signal.SIGTERM, signal.SIGKILL):  # nspawn turns SIGTERM into a shutdown
            _signal(find_supervisor_pids(host.root) + find_nspawn_pids(host.root), sig)
            if _wait_gone(host, 10.0):
                break
        else:
            raise SovereignError(
                f"lab host {host.name} would not stop (supervisor {supervisors}, nspawn {pids})"
            )
    kill_orphans(host)


def _signal(pids: list[int], sig: signal.Signals) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def _wait_gone(host: HostState, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not is_running(host):
            return True
        time.sleep(0.2)
    return False
