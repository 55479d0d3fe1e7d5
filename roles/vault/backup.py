"""The Vault role's backups: raft snapshots on a timer (the backup AppRole, converge.py), the
static seal key and the controller material encrypted to the operator's age recipients.

All of it lands on the tank/backups dataset (snapshotted and replicated with it):
- `dir`: raft-YYYYmmddTHHMMSSZ.snap, the newest `keep` (appliance/backup/vault_snapshot.py);
- `keys_dir`: seal.key.age (encrypted on the host with Debian's age: the key never leaves
  it in clear) and controller.tar.age (the controller's Vault directory and CA: init keys,
  the deploy's and the break-glass AppRole, encrypted on the controller with pyrage).
Each encrypted copy has a `.sha256` marker: the digest of what was encrypted and the
recipients, so a deploy re-encrypts only when either changed (age output differs each time).
"""

from __future__ import annotations

import hashlib
import io
import tarfile
from collections.abc import Generator
from io import StringIO
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pyinfra import host, logger
from pyinfra.api import (
    FactBase,
    FunctionCommand,
    OperationError,
    QuoteString,
    StringCommand,
    deploy,
    operation,
)
from pyinfra.api.host import Host
from pyinfra.facts.files import FileContents
from pyinfra.operations import systemd
from pyinfra.operations.util import any_changed

from roles.common import ops as common
from roles.common.facts import DigestMarker
from roles.pki.settings import controller_dir as pki_dir
from roles.vault.layout import BACKUP_DIR, CA_CERT, SEAL_KEY
from roles.vault.settings import controller_dir

if TYPE_CHECKING:
    from roles.spec import HostSpec

HERE = Path(__file__).parent
SERVICE = "sovereign-vault-snapshot.service"
TIMER = "sovereign-vault-snapshot.timer"
AGENT_PYTHON = "/opt/sovereign/agent/bin/python"
SEAL_COPY = "seal.key.age"
CONTROLLER_COPY = "controller.tar.age"


def controller_archive(directories: list[Path]) -> bytes:
    """A tar of the controller's directories, byte-for-byte the same for the same files
    (sorted, no times, no owners), so its digest says whether anything changed."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for directory in directories:
            if not directory.is_dir():
                continue
            for path in sorted(p for p in directory.rglob("*") if p.is_file()):
                info = tarfile.TarInfo(f"{directory.name}/{path.relative_to(directory)}")
                data = path.read_bytes()
                info.size, info.mode, info.mtime = len(data), path.stat().st_mode & 0o777, 0
                tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def digest(payload: bytes, recipients: list[str]) -> str:
    return hashlib.sha256(payload + "\n".join(sorted(recipients)).encode()).hexdigest()


def _upload_controller_copy(
    state: Any, host: Host, directories: list[str], recipients: list[str], dest: str
) -> None:
    """At execution time (after converge wrote this deploy's keys): archive, encrypt, upload."""
    import pyrage

    payload = controller_archive([Path(d) for d in directories])
    parsed = [pyrage.x25519.Recipient.from_str(r) for r in recipients]
    encrypted = pyrage.encrypt(payload, parsed)
    sudo = bool(host.data.get("_sudo"))
    if not host.put_file(io.BytesIO(encrypted), f"{dest}.new", print_output=False):
        raise OperationError(f"could not upload {dest} to {host.name}")
    install = StringCommand(
        "chmod 600", QuoteString(f"{dest}.new"), "&& mv", QuoteString(f"{dest}.new"),
        QuoteString(dest), "&& echo", digest(payload, recipients), ">",
        QuoteString(f"{dest}.sha256"),
    )  # fmt: skip
    ok, _ = host.run_shell_command(
        install,
        print_output=False,
        _sudo=sudo,
    )
    if not ok:
        raise OperationError(f"could not install {dest} on {host.name}")


@operation()
def controller_copy(
    directories: list[str], recipients: list[str], dest: str
) -> Generator[FunctionCommand, None, None]:
    """
    The controller's Vault directory and CA, encrypted to the operator's age recipients, on
    the host. Planned from the files as they are now; uploaded from them as they are when it
    runs (the first deploy's converge writes the init keys in between).

    + directories: controller directories to archive
    + recipients: age public keys (age1…)
    + dest: the encrypted archive on the host
    """
    want = digest(controller_archive([Path(d) for d in directories]), recipients)
    have = host.get_fact(FileContents, path=f"{dest}.sha256") or []
    if have and have[0].strip() == want:
        host.noop(f"{dest} holds the controller material as it is")
        return
    yield FunctionCommand(
        _upload_controller_copy,
        (),
        {"directories": directories, "recipients": recipients, "dest": dest},
    )


@operation()
def seal_copy(recipients: list[str], dest: str) -> Generator[StringCommand, None, None]:
    """
    The static seal key encrypted on the host with age (it never leaves the host in clear),
    again only when the key or the recipients changed.

    + recipients: age public keys (age1…)
    + dest: the encrypted copy
    """
    marker = f"{dest}.sha256"
    joined = "\n".join(sorted(recipients))
    state = host.get_fact(DigestMarker, path=SEAL_KEY, marker=marker, tag=joined)
    if state["current"] and state["current"] == state["copied"]:
        host.noop(f"{dest} holds the seal key as it is")
        return
    flags = " ".join(f"-r {QuoteString(r).obj}" for r in recipients)
    yield StringCommand(
        f"d=$({{ cat {SEAL_KEY}; printf '%s' '{joined}'; }} | sha256sum | cut -d' ' -f1) && "
        f'if [ "$(cat {marker} 2>/dev/null)" != "$d" ]; then '
        f"(umask 077 && age {flags} -o {dest}.new {SEAL_KEY}) && mv {dest}.new {dest} && "
        f'echo "$d" > {marker}; fi'
    )


def snapshot_files_command(directory: str) -> str:
    return f"ls -1 {directory} 2>/dev/null | grep -c '^raft-.*\\.snap$' || true"


class SnapshotCount(FactBase[int]):
    """How many raft snapshot files the directory holds."""

    @staticmethod
    def default() -> int:
        return 0

    def command(self, directory: str) -> str:
        return snapshot_files_command(directory)

    def process(self, output: list[str]) -> int:
        return int(output[0]) if output and output[0].strip().isdigit() else 0


@operation()
def first_snapshot(directory: str) -> Generator[StringCommand, None, None]:
    """
    A raft snapshot now when the directory holds none (a backup from the first deploy on).

    + directory: where the timer's snapshots go
    """
    count = host.get_fact(SnapshotCount, directory=directory)
    if count:
        host.noop(f"{directory} holds {count} raft snapshot(s)")
        return
    yield StringCommand("systemctl", "start", SERVICE)


@deploy("Vault backups (raft snapshots, encrypted keys)")
def vault_backups(spec: HostSpec) -> None:
    """Directories, units and timer, the first snapshot, the encrypted key copies. After the
    agent role: the snapshot runner is the agent's code."""
    cfg = spec.vault
    assert cfg is not None, "deploy/site.py runs it only for hosts with `vault`"
    port = cfg.port
    controller_dirs = [controller_dir(cfg, spec.name), pki_dir(spec)]
    backup = cfg.backup
    if not backup.enabled:
        systemd.service(name=f"Stop {TIMER} (vault.backup.enabled is false)", service=TIMER,
                        running=False, enabled=False)  # fmt: skip
        return
    for path in (backup.dir, backup.keys_dir):
        common.directory(name=f"Create {path} (tank/backups, root only)", path=path,
                         user="root", group="root", mode="700")  # fmt: skip
    args: dict[str, Any] = {
        "python": AGENT_PYTHON, "port": port, "ca_cert": CA_CERT, "credentials": BACKUP_DIR,
        "dir": backup.dir, "keep": backup.keep, "state_dir": "sovereign/backup/vault",
        "vault_unit": "vault.service",
    }  # fmt: skip
    service = common.template(name=f"Install {SERVICE}", src=str(HERE / f"{SERVICE}.j2"),
                              dest=f"/etc/systemd/system/{SERVICE}", **args)  # fmt: skip
    timer = common.put(
        name=f"Install {TIMER}",
        src=StringIO(TIMER_UNIT.format(calendar=backup.schedule)),
        dest=f"/etc/systemd/system/{TIMER}",
    )
    systemd.daemon_reload(name="Reload systemd units", _if=any_changed(service, timer))
    common.service(name=f"Run {TIMER}", unit=TIMER)
    first_snapshot(name="A first raft snapshot", directory=backup.dir)
    recipients = cfg.operator_age_recipients
    if not recipients:
        logger.warning(
            f"{host.print_prefix}WARNING: no vault.operator_age_recipients: the seal key and the "
            "controller material are NOT backed up (they are never stored in clear)"
        )
        return
    if cfg.seal == "static":
        common.packages(name="Install age (encrypts the seal key's copy)", packages=["age"])
        seal_copy(name="The seal key, encrypted to the operator's age recipients",
                  recipients=recipients, dest=f"{backup.keys_dir}/{SEAL_COPY}")  # fmt: skip
    controller_copy(
        name="The controller's Vault directory and CA, encrypted to the operator",
        directories=[str(d) for d in dict.fromkeys(controller_dirs)],
        recipients=recipients,
        dest=f"{backup.keys_dir}/{CONTROLLER_COPY}",
    )


TIMER_UNIT = """# Managed by Sovereign Appliance (roles/vault).
[Unit]
Description=Sovereign Appliance Vault raft snapshot

[Timer]
OnCalendar={calendar}
Persistent=true
RandomizedDelaySec=2min
AccuracySec=1s

[Install]
WantedBy=timers.target
"""
