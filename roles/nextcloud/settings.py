"""Settings of the Nextcloud role (host data key `nextcloud`; the role runs only on hosts whose
inventory has this section)."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator

from roles.pki.settings import check_sans
from roles.settings import absolute_path

TARBALL_RE = re.compile(r"^nextcloud-\d+\.\d+\.\d+\.tar\.bz2$")


class NextcloudServer(BaseModel):
    """The server itself: a release tarball the operator drops into the artifact cache (no
    registry reachable from the appliance carries it), checked against this sha256."""

    model_config = ConfigDict(extra="forbid")

    file: str = Field(
        description="The tarball's name in the artifact cache, e.g. `nextcloud-30.0.2.tar.bz2` "
        "(download.nextcloud.com/server/releases)."
    )
    sha256: str = Field(description="Its sha256, as published beside it (`.sha256`).")

    @field_validator("file")
    @classmethod
    def _file(cls, value: str) -> str:
        if not TARBALL_RE.match(value):
            raise ValueError("a release tarball's name, nextcloud-MAJOR.MINOR.MICRO.tar.bz2")
        return value

    @field_validator("sha256")
    @classmethod
    def _sha256(cls, value: str) -> str:
        if not re.fullmatch(r"[0-9a-f]{64}", value.lower()):
            raise ValueError("64 hexadecimal digits")
        return value.lower()

    @property
    def version(self) -> str:
        return self.file.removeprefix("nextcloud-").removesuffix(".tar.bz2")


class NextcloudSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    server_names: list[str] = Field(
        min_length=1,
        description="DNS names the edge answers Nextcloud on (they go into the edge's "
        "certificate); the first is the canonical one (overwrite.cli.url).",
    )
    server: NextcloudServer | None = Field(
        None,
        description="The release tarball to install. Without it the role sets up everything "
        "around the server (PHP-FPM, nginx, database, Redis, the cron timer) and nginx answers "
        "503 'not installed'.",
    )
    port: int = Field(8081, ge=1024, le=65535, description="The loopback vhost the edge proxies.")
    install_dir: str = Field(
        "/var/www/nextcloud",
        description="The server's code (a symlink to the installed version's directory).",
    )
    data_dir: str = Field("/tank/nextcloud/data", description="Users' files: on tank/nextcloud.")
    db_name: str = Field("nextcloud", description="Declared in `postgres.databases`.")
    db_user: str = Field(
        "nextcloud",
        description="Declared in `postgres.roles` (its password is generated on the host and "
        "kept in Vault KV postgres/ROLE).",
    )
    admin_user: str = Field("admin", pattern=r"^[a-z][a-z0-9_.-]{0,31}$")
    memory_limit_mb: int = Field(512, ge=128, le=8192, description="PHP memory_limit.")
    max_upload_gb: int = Field(16, ge=1, le=1024, description="Largest single upload.")
    fpm_max_children: int = Field(16, ge=2, le=512)
    cron_minutes: int = Field(5, ge=1, le=60, description="Background jobs (cron.php) period.")
    redis_max_memory_mb: int = Field(128, ge=16, le=8192)

    @field_validator("server_names")
    @classmethod
    def _names(cls, value: list[str]) -> list[str]:
        return check_sans(value)

    @field_validator("install_dir", "data_dir")
    @classmethod
    def _abs(cls, value: str) -> str:
        return absolute_path(value)

    @property
    def canonical_name(self) -> str:
        return self.server_names[0]
