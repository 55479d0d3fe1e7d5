"""The host's `sync` section (Sovereign Sync to a Nextcloud), validated once in the host spec
and rendered into agent.toml's ``[sync]`` by roles/agent/config.py (pure: no host, no I/O).

Credentials are not in the inventory: the Nextcloud app password is put into Vault KV by the
operator (`sovereign vault put-secret … agent/sync/nextcloud`, field `app_password`), and the
appliance's sync identity (an age X25519 key) is made on the host at the first deploy with
sync, straight into Vault KV (`agent/sync/identity`), never on the controller (roles/agent/ops).
"""

from __future__ import annotations

from pathlib import PurePath, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from appliance.sync.settings import WatchedFolder, remote_folder
from roles.settings import RoleSettingsError

# The agent's unit (sovereign-agent.service.j2) hides these from it (ProtectHome, PrivateTmp)
# and lets it write only under /var/lib/sovereign (its spool).
HIDDEN = ("/home", "/root", "/run/user", "/tmp", "/var/tmp")  # noqa: S108 (what is hidden)
WRITABLE = "/var/lib/sovereign"
# [sync] keys the role sets from the typed fields below: `options` may not set them too.
ROLE_KEYS = frozenset({"enabled", "url", "user", "remote_root", "recipients", "watch"})


class SyncRoleSettings(BaseModel):
    """Host data key `sync`: where the appliance's documents go, and who can decrypt them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str = Field(description="The Nextcloud's base URL: https://HOST[:PORT][/PATH].")
    user: str = Field(min_length=1, max_length=64, description="The Nextcloud user.")
    remote_root: str = Field(
        default="sovereign-sync", description="Folder under the user's files for the objects."
    )
    recipients: list[str] | None = Field(
        default=None,
        description="The operator's age recipients (age1…); unset: vault.operator_age_recipients "
        "(the keys the operator already holds for the appliance's other secrets).",
    )
    watch: list[WatchedFolder] = Field(
        default_factory=list,
        description="Folders on the host whose new or changed files are synced (scanned every "
        "`options.scan_interval_s`).",
    )
    options: dict[str, Any] = Field(
        default_factory=dict,
        description="More [sync] settings (appliance/sync/settings.py: chunk_size, "
        "max_attempts, backoff_s, ca_bundle, …), validated by the agent's own model.",
    )

    @field_validator("url")
    @classmethod
    def _https(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme != "https" or not parts.hostname:
            raise ValueError(f"not an https:// URL: {value!r} (documents leave over TLS only)")
        if parts.username or parts.password or parts.query or parts.fragment:
            raise ValueError("the URL carries no credentials, query or fragment")
        return value.rstrip("/")

    @field_validator("remote_root")
    @classmethod
    def _folder(cls, value: str) -> str:
        return remote_folder(value)

    @field_validator("user")
    @classmethod
    def _user(cls, value: str) -> str:
        if "/" in value or value.strip() != value or not value.isprintable():
            raise ValueError(f"not a Nextcloud user name: {value!r}")
        return value

    @field_validator("watch")
    @classmethod
    def _visible(cls, value: list[WatchedFolder]) -> list[WatchedFolder]:
        for folder in value:
            if any(_under(folder.path, hidden) for hidden in HIDDEN):
                raise ValueError(f"{folder.path}: the agent's unit hides {HIDDEN} from it")
        return value

    @field_validator("options")
    @classmethod
    def _no_overlap(cls, value: dict[str, Any]) -> dict[str, Any]:
        clash = sorted(ROLE_KEYS & set(value))
        if clash:
            raise ValueError(f"{clash} are `sync` fields, not `sync.options`")
        spool = value.get("spool_dir")
        if spool is not None and not _under(str(spool), WRITABLE):
            raise ValueError(f"spool_dir: the agent may write only under {WRITABLE}")
        return value


def _under(path: str | PurePath, folder: str) -> bool:
    return PurePosixPath(path).is_relative_to(folder)


def sync_table(host: str, sync: SyncRoleSettings, operator_recipients: list[str]) -> dict[str, Any]:
    """agent.toml's [sync] for this host (validated by the agent's own model by the caller).

    Without an operator recipient nobody but the appliance could decrypt a document, and no
    restore could run without it: refused here, at preflight."""
    recipients = list(sync.recipients if sync.recipients is not None else operator_recipients)
    if not recipients:
        raise RoleSettingsError(
            f"host {host}: sync: no operator age recipient: set sync.recipients or "
            "vault.operator_age_recipients (a restore needs the operator's key)"
        )
    table: dict[str, Any] = {
        "enabled": True,
        "url": sync.url,
        "user": sync.user,
        "remote_root": sync.remote_root,
        "recipients": recipients,
        **sync.options,
    }
    if sync.watch:
        table["watch"] = [w.model_dump(mode="json", exclude_none=True) for w in sync.watch]
    return table
