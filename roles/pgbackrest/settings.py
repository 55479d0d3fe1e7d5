"""Settings of the pgbackrest role (host data key `pgbackrest`): PostgreSQL backups.

    pgbackrest = {
        "archive_timeout": 60,        # seconds: a WAL segment is archived at least this often
        "retention_full": 2,          # full backups kept (with what depends on them)
        "retention_diff": 7,
        "incr_schedule": "*-*-* *:30:00",
    }

The repository is a directory of the tank/backups dataset (snapshotted and replicated with
it); the schedules are systemd calendar expressions (`systemd-analyze calendar EXPR`).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from roles.settings import RoleSettingsError, absolute_path

if TYPE_CHECKING:
    from roles.vault.settings import VaultServerSettings

# A calendar expression: what systemd.time(7) uses, nothing a unit file would read as syntax.
CALENDAR_RE = re.compile(r"^[A-Za-z0-9*.,:/~ -]{1,80}$")


class PgBackrestSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(
        default=True, description="Archive WAL and back up PostgreSQL with pgBackRest."
    )
    stanza: str = Field(default="main", pattern=r"^[a-z][a-z0-9_-]{0,30}$")
    repo_path: str = Field(
        default="/tank/backups/pgbackrest",
        description="The repository: a directory of the tank/backups dataset.",
    )
    archive_timeout: int = Field(
        default=60,
        ge=10,
        le=300,
        description="Seconds after which a WAL segment is archived even if not full: the most "
        "committed work a lost host can take with it (RPO), ≤ 5 minutes.",
    )
    retention_full: int = Field(default=2, ge=1, le=52, description="Full backups kept.")
    retention_diff: int = Field(default=7, ge=1, le=100, description="Differential backups kept.")
    repo_cipher: Literal["auto", "aes-256-cbc", "none"] = Field(
        default="auto",
        description="Encrypt the repository (pgBackRest's repo1-cipher-type). auto: "
        "aes-256-cbc when the host's Vault backs up to operator_age_recipients (the "
        "passphrase is kept in Vault and age-encrypted to the operator), else none. "
        "pgBackRest cannot change the cipher of an existing repository (see "
        "docs/disaster-recovery.md).",
    )
    compress_type: str = Field(default="lz4", pattern=r"^(gz|lz4|zst|bz2|none)$")
    full_schedule: str = Field(default="Sun *-*-* 01:00:00", description="Weekly full backup.")
    diff_schedule: str = Field(
        default="Mon..Sat *-*-* 01:00:00", description="Daily differential backup."
    )
    incr_schedule: str = Field(default="*-*-* *:30:00", description="Hourly incremental backup.")
    restore_check_schedule: str = Field(
        default="*-*-* 04:15:00",
        description="Daily: the latest backup restored into a scratch cluster, queried, removed.",
    )
    restore_check_port: int = Field(default=5499, ge=1024, le=65535)
    restore_check_dir: str = Field(
        default="/var/lib/postgresql/sovereign-restore-check",
        description="The scratch cluster's data directory (removed after each check).",
    )

    @field_validator("repo_path", "restore_check_dir")
    @classmethod
    def _abs(cls, value: str) -> str:
        return absolute_path(value)

    @field_validator("full_schedule", "diff_schedule", "incr_schedule", "restore_check_schedule")
    @classmethod
    def _calendar(cls, value: str) -> str:
        if not CALENDAR_RE.match(value):
            raise ValueError(f"not a systemd calendar expression: {value!r}")
        return value


def check_restore_port(cfg: PgBackrestSettings, postgres_port: int, host_name: str) -> None:
    """The restore check's scratch cluster must not take the live cluster's port."""
    if cfg.enabled and cfg.restore_check_port == postgres_port:
        raise RoleSettingsError(
            f"host {host_name}: pgbackrest.restore_check_port: {postgres_port} is "
            "postgres.port (the live cluster's); choose another"
        )


def cipher_holders(vault: VaultServerSettings | None) -> bool:
    """Whether the passphrase can be kept where a rebuild finds it: Vault KV, and a copy
    age-encrypted to the operator's recipients in vault.backup.keys_dir (pure)."""
    return bool(vault is not None and vault.backup.enabled and vault.operator_age_recipients)


def encrypted(cfg: PgBackrestSettings, vault: VaultServerSettings | None) -> bool:
    """Whether the repository is encrypted (aes-256-cbc), `auto` resolved (pure)."""
    if not cfg.enabled or cfg.repo_cipher == "none":
        return False
    return cfg.repo_cipher == "aes-256-cbc" or cipher_holders(vault)


def check_cipher(
    cfg: PgBackrestSettings, vault: VaultServerSettings | None, host_name: str
) -> None:
    """An explicit aes-256-cbc needs somewhere to keep the passphrase for a rebuild."""
    if cfg.enabled and cfg.repo_cipher == "aes-256-cbc" and not cipher_holders(vault):
        raise RoleSettingsError(
            f"host {host_name}: pgbackrest.repo_cipher: aes-256-cbc needs `vault` with "
            "operator_age_recipients and vault.backup enabled (the passphrase is kept in Vault "
            "and age-encrypted to the operator, or a rebuild could not read the repository)"
        )
