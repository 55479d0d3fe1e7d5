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

The backup host is only listed and sent from, over root SSH (sovereign/rebuild_remote.py): a
plain ZFS backup host (`kind = "backup"`, no agent, no Vault) serves as well as an appliance.
"""

from __future__ import annotations

import os
import tempfile
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
from sovereign.inventory import load_inventory
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
from sovereign.rebuild_remote import Remote, bring_back, operator_copy
from sovereign.runner import run_deploy, run_verify

FULL_BACKUP = "sovereign-pgbackrest-backup@full.service"
VAULT_SNAPSHOT = "sovereign-vault-snapshot.service"


@dataclass(frozen=True)
class Request:
    inventory: str
    host: str
    backup_host: str
    at: datetime | None = None
    force: bool = False
    identity: Path | None = None


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
                bring_back(remote, request.host, request.backup_host, pick, request.force,
                           progress)  # fmt: skip
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


def _seal_key(request: Request, spec: HostSpec, remote: Remote) -> None:
    assert spec.vault is not None
    copy = f"{spec.vault.backup.keys_dir}/{SEAL_COPY}"
    operator_copy(remote, request.host, request.identity, copy, cmd.seal_key_command(SEAL_KEY))


def _cipher_pass(request: Request, spec: HostSpec, remote: Remote) -> None:
    """The repository's passphrase back in its root-only file before anything reads the
    received (encrypted) repository: the deploy's PostgreSQL stage refuses without it."""
    assert spec.vault is not None
    copy = f"{spec.vault.backup.keys_dir}/{CIPHER_COPY}"
    operator_copy(remote, request.host, request.identity, copy, install_command())


def _postgres(request: Request, spec: HostSpec, remote: Remote, progress: Progress) -> None:
    pg = spec.postgres
    script = cmd.postgres_restore_script(
        pg.version, pg.cluster, pg.cluster_dir, pg.port, spec.pgbackrest.stanza, request.at
    )
    out = remote.text(request.host, script).strip().splitlines()
    progress.say(f"PostgreSQL recovered and promoted (lsn|time: {out[-1] if out else '?'})")
