"""How `sovereign rebuild` reaches the hosts and moves data between them (sovereign/rebuild.py
drives the steps): OpenSSH as root through the inventory's pinned host keys, a replica streamed
from the backup host through this controller into the host, and a file age-encrypted to the
operator opened here and written on the host from stdin.

The backup host needs nothing but ZFS and root SSH for this: no agent, no Vault (a plain
backup host, `kind = "backup"`, serves a rebuild as an appliance does).
"""

from __future__ import annotations

import shlex
import subprocess
import tempfile
import time
from pathlib import Path

from controller.errors import SovereignError
from sovereign import rebuild_host as cmd
from sovereign.inventory import InventoryHost, render_ssh_config
from sovereign.progress import Progress
from sovereign.rebuild_plan import Pick, RebuildRefused, host_dataset

CHUNK = 1 << 20
PROGRESS_EVERY_S = 10.0


class Remote:
    """OpenSSH to the inventory's hosts as root, through a client config of the inventory's
    SSH settings (pinned host keys)."""

    def __init__(self, hosts: list[InventoryHost], directory: Path) -> None:
        self.config = directory / "ssh_config"
        self.config.write_text(render_ssh_config(hosts))

    def argv(self, host: str, command: str) -> list[str]:
        return ["ssh", "-F", str(self.config), "-o", "BatchMode=yes", host, command]

    def run(
        self, host: str, command: str, stdin: bytes | None = None, timeout: float = 900.0
    ) -> bytes:
        proc = subprocess.run(
            self.argv(host, command), input=stdin if stdin is not None else b"",
            capture_output=True, timeout=timeout, check=False,
        )  # fmt: skip
        if proc.returncode != 0:
            why = proc.stderr.decode(errors="replace").strip().splitlines()[-5:]
            raise SovereignError(
                f"{host}: `{command.splitlines()[-1][:80]}` failed (exit {proc.returncode}): "
                + " | ".join(why)
            )
        return proc.stdout

    def text(self, host: str, command: str, timeout: float = 900.0) -> str:
        return self.run(host, command, timeout=timeout).decode(errors="replace")


def bring_back(
    remote: Remote, host: str, backup_host: str, pick: Pick, force: bool, progress: Progress
) -> None:
    """One dataset from the backup host's replica onto the host: a dataset the deploy just
    made empty there goes first; one with data only with --force."""
    found = host_dataset(pick.dataset, *cmd.split_probe(
        remote.text(host, cmd.probe_command(pick.dataset))))  # fmt: skip
    if found.exists:
        if found.fresh:
            remote.run(host, cmd.destroy_fresh_command(pick.dataset))
        elif force:
            progress.say(f"{pick.dataset}: --force: the host's own copy is destroyed")
            remote.run(host, cmd.destroy_forced_command(pick.dataset))
        else:
            raise RebuildRefused(f"{pick.dataset} appeared on {host} with data in it")
    started = time.monotonic()
    sent = stream(remote, host, backup_host, pick, progress)
    took = time.monotonic() - started
    after = remote.text(host, cmd.listing_command(pick.dataset))
    if f"{pick.dataset}@{pick.snapshot.name}\t" not in after:
        raise SovereignError(f"{pick.dataset}: received, but {pick.snapshot.name} is not there")
    rate = sent / took / 1e6 if took > 0 else 0.0
    progress.say(f"{pick.dataset}: {sent / 1e6:.1f} MB in {took:.1f} s ({rate:.1f} MB/s)")


def stream(remote: Remote, host: str, backup_host: str, pick: Pick, progress: Progress) -> int:
    """`zfs send` on the backup host piped through here into `zfs receive` on the host."""
    with tempfile.TemporaryFile() as send_err, tempfile.TemporaryFile() as recv_err:
        send = subprocess.Popen(
            remote.argv(backup_host, cmd.send_command(pick.source)),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=send_err,
        )
        recv = subprocess.Popen(
            remote.argv(host, cmd.receive_command(pick.dataset)),
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=recv_err,
        )
        assert send.stdout is not None and recv.stdin is not None  # fmt: skip
        sent, last = 0, time.monotonic()
        try:
            while chunk := send.stdout.read(CHUNK):
                recv.stdin.write(chunk)
                sent += len(chunk)
                if time.monotonic() - last >= PROGRESS_EVERY_S:
                    last = time.monotonic()
                    progress.say(f"{pick.dataset}: {sent / 1e6:.1f} MB so far")
        except BrokenPipeError:
            pass
        finally:
            recv.stdin.close()
        codes = send.wait(), recv.wait()
        if codes != (0, 0):
            send_err.seek(0)
            recv_err.seek(0)
            why = (send_err.read() + recv_err.read()).decode(errors="replace").strip()
            raise SovereignError(f"{pick.dataset}: send/receive failed {codes}: {why[-400:]}")
    return sent


def operator_copy(
    remote: Remote, host: str, identity: Path | None, copy: str, install: str
) -> None:
    """A file age-encrypted to the operator (received with tank/backups), opened here with
    the operator's identity and written on the host from stdin: never in clear on disk here,
    on a command line or in output."""
    import pyrage

    assert identity is not None
    encrypted = remote.run(host, f"cat {shlex.quote(copy)}")
    identities = [
        pyrage.x25519.Identity.from_str(line.strip())
        for line in identity.read_text().splitlines()
        if line.startswith("AGE-SECRET-KEY-")
    ]
    if not identities:
        raise RebuildRefused(f"{identity} holds no age identity (AGE-SECRET-KEY-…)")
    try:
        clear = pyrage.decrypt(encrypted, identities)
    except pyrage.DecryptError:
        raise RebuildRefused(f"{identity} does not open {copy}") from None
    remote.run(host, install, stdin=clear)
    del clear
