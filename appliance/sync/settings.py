"""``[sync]`` of agent.toml: where documents go (a Nextcloud's WebDAV), who may decrypt them
(the appliance's sync identity from the secrets backend, plus the operator's age recipients),
and the upload's pace."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from appliance.secrets.names import check_secret_name

DEFAULT_SPOOL = Path("/var/lib/sovereign/sync/spool")
MIB = 1024 * 1024


def remote_folder(value: str) -> str:
    """``remote_root`` as a folder path under the user's files, slashes normalised (also the
    inventory's `sync.remote_root`, roles/agent/sync.py)."""
    parts = [p for p in value.split("/") if p]
    if not parts or any(p in (".", "..") for p in parts):
        raise ValueError(f"remote_root must be a folder path: {value!r}")
    return "/".join(parts)


class WatchedFolder(BaseModel):
    """A folder on the host whose files are synced when new or changed (appliance/sync/watch)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: Path = Field(description="An absolute folder, walked recursively.")
    pattern: str = Field(
        default="*",
        min_length=1,
        description="fnmatch pattern over each file's path relative to the folder (`*.pdf`).",
    )

    @field_validator("path")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        if not value.is_absolute() or ".." in value.parts:
            raise ValueError(f"not an absolute folder: {str(value)!r}")
        return value


class SyncSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(default=False, description="Run the sync worker and serve /api/sync.")
    url: str = Field(default="", description="The Nextcloud's base URL (https://HOST).")
    user: str = Field(default="", description="The Nextcloud user documents are stored as.")
    password_secret: str = Field(
        default="agent/sync/nextcloud",
        description="Secret whose field `app_password` is that user's Nextcloud app password.",
    )
    identity_secret: str = Field(
        default="agent/sync/identity",
        description="Secret whose field `identity` is the appliance's age identity "
        "(AGE-SECRET-KEY-1…): a recipient of every document, and what the agent decrypts with.",
    )
    recipients: list[str] = Field(
        default_factory=list,
        description="The operator's age recipients (age1…): each can decrypt every document "
        "with `age -d -i` and restore without the appliance.",
    )
    remote_root: str = Field(
        default="sovereign-sync", description="Folder under the user's files holding the objects."
    )
    spool_dir: Path = Field(
        default=DEFAULT_SPOOL,
        description="Ciphertext waits here until verified on the server (never plaintext): an "
        "upload resumes from it after a restart.",
    )
    chunk_size: int = Field(
        default=10 * MIB,
        ge=5 * MIB,
        le=5 * 1024 * MIB,
        description="Chunked upload (v2) piece size; Nextcloud wants at least 5 MiB.",
    )
    max_attempts: int = Field(default=8, ge=1, le=100, description="Tries before failed.")
    backoff_s: float = Field(default=2.0, gt=0, le=600, description="First retry delay.")
    backoff_max_s: float = Field(default=300.0, gt=0, le=86400, description="Longest delay.")
    timeout_s: float = Field(default=60.0, gt=0, le=3600, description="Per HTTP request.")
    ca_bundle: Path | None = Field(default=None, description="CA file to trust for the server.")
    watch: list[WatchedFolder] = Field(
        default_factory=list, description="Folders whose new or changed files are synced."
    )
    scan_interval_s: float = Field(
        default=60.0, ge=1, le=86400, description="How often the watched folders are walked."
    )
    settle_s: float = Field(
        default=5.0,
        ge=0,
        le=3600,
        description="A file modified more recently than this is left for the next scan (it "
        "may still be being written).",
    )

    @field_validator("password_secret", "identity_secret")
    @classmethod
    def _secret_name(cls, value: str) -> str:
        return check_secret_name(value)

    @field_validator("recipients")
    @classmethod
    def _age_recipients(cls, value: list[str]) -> list[str]:
        for recipient in value:
            if not recipient.startswith("age1") or len(recipient) < 60:
                raise ValueError(f"not an age X25519 recipient: {recipient!r}")
        return value

    @field_validator("remote_root")
    @classmethod
    def _relative_folder(cls, value: str) -> str:
        return remote_folder(value)
