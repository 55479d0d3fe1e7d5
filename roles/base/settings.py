"""Settings of the base role (host data key `base`)."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator

HOSTNAME_RE = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
TIMEZONE_RE = re.compile(r"^[A-Za-z0-9_+-]+(/[A-Za-z0-9_+-]+)*$")

ESSENTIAL_PACKAGES = [
    "ca-certificates",
    "curl",
    "gnupg",
    "jq",
    "less",
    "logrotate",
    "rsync",
    "sudo",
    "tzdata",
]


class BaseRoleSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    hostname: str | None = Field(None, description="Host name; the inventory name by default.")
    timezone: str = Field("UTC", description="IANA time zone, e.g. Europe/Berlin.")
    extra_packages: list[str] = Field(default_factory=list, description="More Debian packages.")
    journal_max_use: str = Field("1G", description="journald SystemMaxUse.")

    @field_validator("hostname")
    @classmethod
    def _hostname(cls, value: str | None) -> str | None:
        if value is not None and not HOSTNAME_RE.match(value):
            raise ValueError("must be 1-63 lower-case letters, digits or '-'")
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        if not TIMEZONE_RE.match(value) or ".." in value:
            raise ValueError("must be an IANA time zone name such as UTC or Europe/Berlin")
        return value

    @field_validator("journal_max_use")
    @classmethod
    def _size(cls, value: str) -> str:
        if not re.match(r"^\d+[KMGT]?$", value):
            raise ValueError("must be a size such as 500M or 1G")
        return value
