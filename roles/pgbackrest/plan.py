"""Pure decisions and rendering of the pgbackrest role: the PostgreSQL archive settings, the
pgBackRest configuration, what the stanza and its first backup need. No host, no pyinfra."""

from __future__ import annotations

from typing import TYPE_CHECKING

from appliance.backup.pgbackrest_info import StanzaInfo
from roles.pgbackrest.cipher import CIPHER_TYPE
from roles.pgbackrest.settings import PgBackrestSettings

if TYPE_CHECKING:
    from roles.postgres.settings import PostgresSettings

CONFIG_FILE = "/etc/pgbackrest.conf"
# Shared by the archive_command (in PostgreSQL's unit), the backup units and the deploy: each
# unit has a private /tmp, pgBackRest's default.
LOCK_DIR = "/run/pgbackrest"
STATE_DIR = "sovereign/backup/postgres"  # under /var/lib (StateDirectory=)
BACKUP_UNIT = "sovereign-pgbackrest-backup@.service"
RESTORE_CHECK = "sovereign-pgbackrest-restore-check"
TYPES = ("full", "diff", "incr")


def backup_service(kind: str) -> str:
    return f"sovereign-pgbackrest-backup@{kind}.service"


def backup_timer(kind: str) -> str:
    return f"sovereign-pgbackrest-{kind}.timer"


def archive_command(cfg: PgBackrestSettings) -> str:
    return f"pgbackrest --stanza={cfg.stanza} archive-push %p"


def archive_settings(cfg: PgBackrestSettings) -> dict[str, str]:
    """postgresql.conf lines (rendered by the postgres role): WAL to the repository, a segment
    at least every archive_timeout seconds. Empty when backups are off (archiving off)."""
    if not cfg.enabled:
        return {}
    return {
        "archive_mode": "on",
        "archive_command": f"'{archive_command(cfg)}'",
        "archive_timeout": f"{cfg.archive_timeout}s",
    }


def write_paths(cfg: PgBackrestSettings) -> list[str]:
    """What the PostgreSQL unit must write besides its own directories: the repository (its
    archive_command runs inside the unit's sandbox)."""
    return [cfg.repo_path, LOCK_DIR] if cfg.enabled else []


def config_text(cfg: PgBackrestSettings, pg: PostgresSettings, encrypted: bool = False) -> str:
    """/etc/pgbackrest.conf. No log files (the units' journal has the console output; the
    archive_command's goes to PostgreSQL's log), a lock in the caller's private /tmp. The
    cipher's passphrase is not here: it is in a file of conf.d (roles/pgbackrest/cipher.py)."""
    cipher = f"repo1-cipher-type={CIPHER_TYPE}\n" if encrypted else ""
    return f"""# Managed by Sovereign Appliance (roles/pgbackrest).
[global]
repo1-path={cfg.repo_path}
{cipher}repo1-retention-full={cfg.retention_full}
repo1-retention-diff={cfg.retention_diff}
compress-type={cfg.compress_type}
start-fast=y
log-level-console=info
log-level-stderr=warn
log-level-file=off
lock-path={LOCK_DIR}

[{cfg.stanza}]
pg1-path={pg.cluster_dir}
pg1-port={pg.port}
pg1-socket-path=/run/postgresql
"""


def stanza_actions(info: StanzaInfo | None) -> list[str]:
    """'stanza-create' when the repository does not have the stanza, 'backup' when it holds
    no backup yet (the first full backup, so a restore is possible from the first deploy)."""
    actions = []
    if info is None or not info.exists:
        actions.append("stanza-create")
    if info is None or info.latest is None:
        actions.append("backup")
    return actions
