"""`sovereign rebuild INVENTORY --host HOST --from BACKUP_HOST [--at TIME] [--force]`: a
destroyed host brought back onto a fresh (or reinstalled) machine from its backup host.

1. preflight: both hosts answer; the backup host has a replica of each of HOST's replicated
   datasets (its newest snapshot, or the newest at or before --at); the controller still has
   HOST's directory (CA, Vault's keys and AppRoles) and the operator's age identity is given;
   HOST holds none of those datasets with data in them (else refused, naming what it holds,
   unless --force).
2. storage: the deploy's first stages only, up to the ZFS pools (deploy/stages.py).
3. datasets: each one streamed `zfs send` on the backup host → this controller → `zfs
   receive` on HOST, over the inventory's root SSH (no key added anywhere).
4. the static seal key, decrypted here from the received /tank/backups/keys/seal.key.age;
   pgBackRest's passphrase (encrypted repository) likewise from pgbackrest-cipher.conf.age.
5. PostgreSQL: the deploy's stages up to the package, then pgBackRest restores the cluster
   from the received repository and replays the archived WAL (to its end, or --at).
6. the whole deploy (it finds Vault initialised and unsealed, the cluster registered).
7. verify (the testinfra suite) on HOST; the total time is the rebuild's RTO.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from controller.errors import SovereignError
from deploy.stages import UNTIL_ENV
from roles.pgbackrest.cipher import CIPHER_COPY, install_command
from roles.pgbackrest.settings import encrypted
from roles.replication.plan import Link, link_of
from roles.spec import HostSpec
from roles.vault.backup import SEAL_COPY
from roles.vault.keys import DEPLOY_CREDENTIALS
from roles.vault.layout import SEAL_KEY
from roles.vault.settings import controller_dir
from sovereign import rebuild_host as cmd
from sovereign.inventory import InventoryHost, load_inventory, render_ssh_config
from sovereign.preflight import preflight
from sovereign.progress import Progress
from sovereign.rebuild_plan import (
    Pick,
    RebuildRefused,
    check_host_data,
    host_dataset,
    pick_snapshot,
    replica_name,
)
from sovereign.runner import run_deploy, run_verify

FULL_BACKUP = "sovereign-pgbackrest-backup@full.service"
VAULT_SNAPSHOT = "sovereign-vault-snapshot.service"
CHUNK = 1 << 20
PROGRESS_EVERY_S = 10.0


@dataclass(frozen=True)
class Request:
    inventory: str
    host: str
    backup_host: str
    at: datetime | None = None
    force: bool = False
    identity: Path | None = None


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


def rebuild(request: Request, progress: Progress) -> None:
    hosts = load_inventory(request.inventory)
    specs = preflight(hosts)
    spec = specs.get(request.host)
    if spec is None:
        raise SovereignError(f"{request.host} is not a host of {request.inventory}")
    link = link_of(spec, specs)
    if link is None or link.target != request.backup_host:
        raise RebuildRefused(
            f"{request.host} does not replicate to {request.backup_host} (replication.target "
            f"is {link.target if link else 'unset'}): there is nothing to rebuild it from"
        )
    with tempfile.TemporaryDirectory(prefix="sovereign-rebuild-") as tmp:
        remote = Remote(hosts, Path(tmp))
        with progress.step("preflight"):
            picks = _preflight(request, spec, link, remote, progress)
        with progress.step(f"storage on {request.host}: base, firewall, PKI, ZFS pools"):
            _deploy(request, "zfs-pools")
        with progress.step(f"datasets from {request.backup_host}"):
            for pick in picks:
                _bring_back(request, remote, pick, progress)
        if spec.vault is not None and spec.vault.seal == "static":
            with progress.step("the static seal key (from tank/backups/keys, operator's key)"):
                _seal_key(request, spec, remote)
        if encrypted(spec.pgbackrest, spec.vault):
            with progress.step("pgBackRest's passphrase (from tank/backups/keys, operator's key)"):
                _cipher_pass(request, spec, remote)
        if spec.pgbackrest.enabled:
            with progress.step("PostgreSQL: packages, pgBackRest restore, archived WAL replayed"):
                _deploy(request, "postgres-install")
                _postgres(request, spec, remote, progress)
        with progress.step(f"the whole deploy on {request.host}"):
            _deploy(request, None)
        if spec.pgbackrest.enabled:
            remote.run(request.host, cmd.cleanup_command(spec.postgres.cluster_dir))
        units = [FULL_BACKUP] if spec.pgbackrest.enabled else []
        units += [VAULT_SNAPSHOT] if spec.vault is not None else []
        with progress.step("first backups: a full PostgreSQL backup, a raft snapshot"):
            remote.run(request.host, cmd.first_backups_command(units))
        with progress.step(f"verify {request.host}"):
            code = run_verify(request.inventory, [f"--hosts=ssh://{request.host}", "-q"])
            if code != 0:
                raise SovereignError(f"verify failed on {request.host} (exit {code})")
    progress.say(f"{request.host} rebuilt and verified: RTO {progress.elapsed():.0f} s")


def _preflight(
    request: Request, spec: HostSpec, link: Link, remote: Remote, progress: Progress
) -> list[Pick]:
    remote.text(request.host, "true", timeout=60)
    progress.say(f"{request.host} answers over SSH")
    if spec.vault is not None:
        directory = controller_dir(spec.vault, spec.name)
        if not (directory / DEPLOY_CREDENTIALS).exists():
            raise RebuildRefused(
                f"the controller has no {directory / DEPLOY_CREDENTIALS}: without {spec.name}'s "
                "controller directory (CA, Vault AppRoles) the restored Vault cannot be "
                "configured; restore it first (docs/disaster-recovery.md)"
            )
        progress.say(f"controller directory {directory} present")
        needs = [what for what, needed in (
            ("the seal key", spec.vault.seal == "static"),
            ("pgBackRest's passphrase", encrypted(spec.pgbackrest, spec.vault)),
        ) if needed]  # fmt: skip
        if needs and (request.identity is None or not request.identity.exists()):
            opens = " and ".join(needs)
            raise RebuildRefused(f"--identity: the operator's age identity opens {opens}")
    picks = []
    for dataset in link.datasets:
        replica = replica_name(link.prefix, dataset)
        out = remote.text(request.backup_host, cmd.listing_command(replica))
        pick = pick_snapshot(dataset, replica, None if cmd.ABSENT in out else out, request.at)
        progress.say(f"{dataset}: from {request.backup_host}:{pick.source} "
                     f"({pick.snapshot.created:%Y-%m-%d %H:%M:%S}Z)")  # fmt: skip
        picks.append(pick)
    found = [host_dataset(p.dataset, *cmd.split_probe(
        remote.text(request.host, cmd.probe_command(p.dataset)))) for p in picks]  # fmt: skip
    problems = check_host_data(picks, found)
    for line in problems:
        progress.say(f"{request.host} holds: {line}")
    if problems and not request.force:
        raise RebuildRefused(
            f"{request.host} still holds data of {len(problems)} dataset(s) (above): nothing was "
            "changed. Rebuild only a host whose data is lost, or pass --force to replace it"
        )
    return picks


@contextmanager
def _until(stage: str | None) -> Iterator[None]:
    previous = os.environ.get(UNTIL_ENV)
    if stage is None:
        os.environ.pop(UNTIL_ENV, None)
    else:
        os.environ[UNTIL_ENV] = stage
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(UNTIL_ENV, None)
        else:
            os.environ[UNTIL_ENV] = previous


def _deploy(request: Request, until: str | None) -> None:
    with _until(until):
        result = run_deploy(request.inventory, limit=request.host, echo=False)
    if result.returncode != 0:
        tail = "".join(result.output.splitlines(keepends=True)[-30:])
        raise SovereignError(f"the deploy (until {until or 'the end'}) failed:\n{tail}")


def _bring_back(request: Request, remote: Remote, pick: Pick, progress: Progress) -> None:
    found = host_dataset(pick.dataset, *cmd.split_probe(
        remote.text(request.host, cmd.probe_command(pick.dataset))))  # fmt: skip
    if found.exists:
        if found.fresh:
            remote.run(request.host, cmd.destroy_fresh_command(pick.dataset))
        elif request.force:
            progress.say(f"{pick.dataset}: --force: the host's own copy is destroyed")
            remote.run(request.host, cmd.destroy_forced_command(pick.dataset))
        else:
            raise RebuildRefused(f"{pick.dataset} appeared on {request.host} with data in it")
    started = time.monotonic()
    sent = _stream(request, remote, pick, progress)
    took = time.monotonic() - started
    after = remote.text(request.host, cmd.listing_command(pick.dataset))
    if f"{pick.dataset}@{pick.snapshot.name}\t" not in after:
        raise SovereignError(f"{pick.dataset}: received, but {pick.snapshot.name} is not there")
    rate = sent / took / 1e6 if took > 0 else 0.0
    progress.say(f"{pick.dataset}: {sent / 1e6:.1f} MB in {took:.1f} s ({rate:.1f} MB/s)")


def _stream(request: Request, remote: Remote, pick: Pick, progress: Progress) -> int:
    """`zfs send` on the backup host piped through here into `zfs receive` on the host."""
    with tempfile.TemporaryFile() as send_err, tempfile.TemporaryFile() as recv_err:
        send = subprocess.Popen(
            remote.argv(request.backup_host, cmd.send_command(pick.source)),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=send_err,
        )
        recv = subprocess.Popen(
            remote.argv(request.host, cmd.receive_command(pick.dataset)),
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


def _seal_key(request: Request, spec: HostSpec, remote: Remote) -> None:
    assert spec.vault is not None
    copy = f"{spec.vault.backup.keys_dir}/{SEAL_COPY}"
    _operator_copy(request, remote, copy, cmd.seal_key_command(SEAL_KEY))


def _cipher_pass(request: Request, spec: HostSpec, remote: Remote) -> None:
    """The repository's passphrase back in its root-only file before anything reads the
    received (encrypted) repository: the deploy's PostgreSQL stage refuses without it."""
    assert spec.vault is not None
    copy = f"{spec.vault.backup.keys_dir}/{CIPHER_COPY}"
    _operator_copy(request, remote, copy, install_command())


def _operator_copy(request: Request, remote: Remote, copy: str, install: str) -> None:
    """A file age-encrypted to the operator (received with tank/backups), opened here with
    the operator's identity and written on the host from stdin: never in clear on disk here,
    on a command line or in output."""
    import pyrage

    assert request.identity is not None
    encrypted = remote.run(request.host, f"cat {shlex.quote(copy)}")
    identities = [
        pyrage.x25519.Identity.from_str(line.strip())
        for line in request.identity.read_text().splitlines()
        if line.startswith("AGE-SECRET-KEY-")
    ]
    if not identities:
        raise RebuildRefused(f"{request.identity} holds no age identity (AGE-SECRET-KEY-…)")
    try:
        clear = pyrage.decrypt(encrypted, identities)
    except pyrage.DecryptError:
        raise RebuildRefused(f"{request.identity} does not open {copy}") from None
    remote.run(request.host, install, stdin=clear)
    del clear


def _postgres(request: Request, spec: HostSpec, remote: Remote, progress: Progress) -> None:
    pg = spec.postgres
    script = cmd.postgres_restore_script(
        pg.version, pg.cluster, pg.cluster_dir, pg.port, spec.pgbackrest.stanza, request.at
    )
    out = remote.text(request.host, script).strip().splitlines()
    progress.say(f"PostgreSQL recovered and promoted (lsn|time: {out[-1] if out else '?'})")
