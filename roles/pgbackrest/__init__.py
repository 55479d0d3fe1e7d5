"""pgbackrest role: PostgreSQL backups with Debian's pgBackRest, the repository on the
tank/backups dataset (snapshotted and replicated with it), WAL archived at least every
`archive_timeout` seconds (the RPO), full / differential / incremental backups and a daily
restore check on systemd timers, their outcomes in a state file the agent reads
(/var/lib/sovereign/backup/postgres/state.json).

Host spec: `pgbackrest` (roles/pgbackrest/settings.py).

Two deploys, as the site composes them:
- `pgbackrest_repository` before the postgres role (install → configure): the package, its
  configuration and the repository, so the archive_command the postgres role sets (one
  restart, in that role) finds them from the first WAL segment on.
- `pgbackrest` after the agent (its runner is the agent's code) and the snapshots role
  (activate): the units, the stanza (once), its first full backup, the timers.
"""

from __future__ import annotations

from io import StringIO
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pyinfra.api import deploy
from pyinfra.operations import systemd
from pyinfra.operations.util import any_changed

from roles.common import ops as common
from roles.pgbackrest import cipher_ops, ops
from roles.pgbackrest.cipher import CIPHER_COPY
from roles.pgbackrest.plan import (
    BACKUP_UNIT,
    CONFIG_FILE,
    LOCK_DIR,
    RESTORE_CHECK,
    STATE_DIR,
    TYPES,
    backup_service,
    backup_timer,
    config_text,
)
from roles.pgbackrest.settings import encrypted

if TYPE_CHECKING:
    from roles.spec import HostSpec

HERE = Path(__file__).parent
AGENT_PYTHON = "/opt/sovereign/agent/bin/python"
AGENT_GROUP = "sovereign"
TMPFILES = "/etc/tmpfiles.d/sovereign-pgbackrest.conf"


@deploy("pgBackRest repository")
def pgbackrest_repository(spec: HostSpec) -> None:
    cfg = spec.pgbackrest
    if not cfg.enabled:
        return
    encrypt = encrypted(cfg, spec.vault)
    # pgbackrest depends on postgresql-common, which makes the postgres user.
    common.packages(name="Install pgBackRest", packages=["pgbackrest"])
    cipher_ops.passphrase(
        name="The repository's passphrase (encrypted repository: made once)"
        if encrypt else "The repository is not encrypted (pgbackrest.repo_cipher)",
        repo_path=cfg.repo_path, stanza=cfg.stanza, encrypt=encrypt,
    )  # fmt: skip
    common.put(
        name=f"Render {CONFIG_FILE}",
        src=StringIO(config_text(cfg, spec.postgres, encrypted=encrypt)),
        dest=CONFIG_FILE,
        user="root",
        group="postgres",
        mode="640",
    )
    common.directory(
        name=f"Create the repository {cfg.repo_path} (tank/backups)",
        path=cfg.repo_path, user="postgres", group="postgres", mode="750",
    )  # fmt: skip
    common.put(
        name=f"Keep {LOCK_DIR} (pgBackRest's locks, shared by its units)",
        src=StringIO(f"# Managed by Sovereign Appliance (roles/pgbackrest).\n"
                     f"d {LOCK_DIR} 0750 postgres postgres -\n"),
        dest=TMPFILES,
    )  # fmt: skip
    common.directory(name=f"Create {LOCK_DIR}", path=LOCK_DIR, user="postgres",
                     group="postgres", mode="750")  # fmt: skip


@deploy("PostgreSQL backups (pgBackRest on timers)")
def pgbackrest(spec: HostSpec) -> None:
    cfg = spec.pgbackrest
    if not cfg.enabled:
        for kind in (*TYPES, "restore-check"):
            timer = f"{RESTORE_CHECK}.timer" if kind == "restore-check" else backup_timer(kind)
            systemd.service(name=f"Stop {timer} (pgbackrest.enabled is false)", service=timer,
                            running=False, enabled=False)  # fmt: skip
        return
    pg_unit = f"postgresql@{spec.postgres.version}-{spec.postgres.cluster}.service"
    encrypt = encrypted(cfg, spec.vault)
    common_args: dict[str, Any] = {
        "python": AGENT_PYTHON, "agent_group": AGENT_GROUP, "state_dir": STATE_DIR,
        "stanza": cfg.stanza, "config": CONFIG_FILE, "postgres_unit": pg_unit,
        "hardening": (HERE / "hardening.conf").read_text(), "lock_dir": LOCK_DIR,
    }  # fmt: skip
    units = [
        common.template(
            name=f"Install {BACKUP_UNIT}",
            src=str(HERE / f"{BACKUP_UNIT}.j2"),
            dest=f"/etc/systemd/system/{BACKUP_UNIT}",
            repo_path=cfg.repo_path,
            **common_args,
        ),
        common.template(
            name=f"Install {RESTORE_CHECK}.service",
            src=str(HERE / f"{RESTORE_CHECK}.service.j2"),
            dest=f"/etc/systemd/system/{RESTORE_CHECK}.service",
            scratch=cfg.restore_check_dir,
            scratch_parent=str(Path(cfg.restore_check_dir).parent),
            port=cfg.restore_check_port,
            bin_dir=f"/usr/lib/postgresql/{spec.postgres.version}/bin",
            repo_path=cfg.repo_path,
            **common_args,
        ),
    ]
    schedules = {
        "full": (cfg.full_schedule, "weekly full PostgreSQL backup", "10min"),
        "diff": (cfg.diff_schedule, "daily differential PostgreSQL backup", "10min"),
        "incr": (cfg.incr_schedule, "hourly incremental PostgreSQL backup", "2min"),
    }
    timers = []
    for kind, (calendar, description, delay) in schedules.items():
        timers.append(common.template(
            name=f"Install {backup_timer(kind)}", src=str(HERE / "timer.j2"),
            dest=f"/etc/systemd/system/{backup_timer(kind)}", calendar=calendar,
            description=description, delay=delay, unit=backup_service(kind),
        ))  # fmt: skip
    timers.append(common.template(
        name=f"Install {RESTORE_CHECK}.timer", src=str(HERE / "timer.j2"),
        dest=f"/etc/systemd/system/{RESTORE_CHECK}.timer", calendar=cfg.restore_check_schedule,
        description="daily PostgreSQL restore check", delay="10min",
        unit=f"{RESTORE_CHECK}.service",
    ))  # fmt: skip
    systemd.daemon_reload(name="Reload systemd units", _if=any_changed(*units, *timers))
    ops.stanza(name=f"Stanza {cfg.stanza}: created, with a first full backup", stanza=cfg.stanza)
    if encrypt:
        _keep_passphrase(spec)
    for kind in TYPES:
        common.service(name=f"Run {backup_timer(kind)}", unit=backup_timer(kind))
    common.service(name=f"Run {RESTORE_CHECK}.timer", unit=f"{RESTORE_CHECK}.timer")


def _keep_passphrase(spec: HostSpec) -> None:
    """The passphrase's copies (roles/pgbackrest/cipher.py): Vault KV, and age-encrypted to
    the operator on tank/backups, where a rebuild finds it before Vault is back."""
    from roles.pki.settings import controller_dir as pki_dir
    from roles.vault.keys import DEPLOY_CREDENTIALS
    from roles.vault.settings import controller_dir

    vault = spec.vault
    assert vault is not None, "encrypted() needs Vault with operator recipients"
    keys_dir = vault.backup.keys_dir
    common.directory(name=f"Create {keys_dir} (tank/backups, root only)", path=keys_dir,
                     user="root", group="root", mode="700")  # fmt: skip
    common.packages(name="Install age (encrypts the passphrase's copy)", packages=["age"])
    cipher_ops.age_copy(
        name="The repository's passphrase, encrypted to the operator's age recipients",
        recipients=vault.operator_age_recipients, dest=f"{keys_dir}/{CIPHER_COPY}",
    )  # fmt: skip
    cipher_ops.vault_copy(
        name="The repository's passphrase in Vault KV",
        port=vault.port, kv=vault.kv_mount,
        ca_cert=str(pki_dir(spec) / "tls" / "ca.crt"),
        credentials=str(controller_dir(vault, spec.name) / DEPLOY_CREDENTIALS),
    )  # fmt: skip
