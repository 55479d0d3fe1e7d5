"""Where the agent keeps its history and state: the database keys of the agent's config.

On the appliance, PostgreSQL: ``database_url`` names server, user and database, never a
password; the password is field ``password`` of the secret ``database_password_secret``, read
through the agent's SecretManager (Vault), so it is never in agent.toml, the environment or a
log. Without ``database_url``, the embedded SQLite file at ``sqlite_path`` (development and
hosts without PostgreSQL). When the agent moves to PostgreSQL, the history in that file is
imported once (appliance.database.sqlite_import).
"""

from __future__ import annotations

from pathlib import Path
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from appliance.secrets.names import check_secret_name

DEFAULT_SQLITE_PATH = Path("/var/lib/sovereign/agent.db")
_SCHEMES = ("postgresql", "postgres", "postgresql+psycopg")


def check_database_url(value: str | None) -> str | None:
    """A PostgreSQL URL without a password, spelled for psycopg 3; empty means unset.

    Errors never echo the value: a mistaken one may carry a password.
    """
    if value is None or not value.strip():
        return None
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    scheme = value.split("://", 1)[0] if "://" in value else ""
    if scheme not in _SCHEMES:
        raise ValueError(
            f"database_url must be a postgresql://user@host:port/database URL, got scheme "
            f"{scheme!r}"
        )
    try:
        url = make_url(value)
    except ArgumentError:
        raise ValueError("database_url is not a valid URL") from None
    if url.password:
        raise ValueError(
            "database_url must not carry a password: put it in the secret named by "
            "database_password_secret (field `password`)"
        )
    if not url.database:
        raise ValueError("database_url names no database")
    return url.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


class DatabaseSettings(BaseModel):
    """The database keys, together (the runtime opens the store from this)."""

    # A mistaken url may hold a password: validation errors do not repeat the input.
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    url: str | None = Field(
        default=None,
        description="postgresql://USER@HOST:PORT/DATABASE, no password; unset: SQLite.",
    )
    password_secret: str | None = Field(
        default=None,
        description="Secret whose field `password` is the database password; unset: none "
        "(trust or peer authentication).",
    )
    sqlite_path: Path = Field(
        default=DEFAULT_SQLITE_PATH,
        description="The SQLite store; with url set, history imported from it once.",
    )
    connect_timeout_s: float = Field(default=10.0, gt=0, le=300)
    migration_lock_timeout_s: float = Field(
        default=120.0, gt=0, le=3600, description="How long to wait for another migrator."
    )

    @field_validator("url")
    @classmethod
    def _postgres_without_password(cls, value: str | None) -> str | None:
        return check_database_url(value)

    @field_validator("password_secret")
    @classmethod
    def _secret_name(cls, value: str | None) -> str | None:
        return None if value is None else check_secret_name(value)

    @model_validator(mode="after")
    def _secret_needs_url(self) -> Self:
        if self.password_secret is not None and self.url is None:
            raise ValueError("database_password_secret is set but database_url is not")
        return self

    @property
    def description(self) -> str:
        """Where the data goes, safe to log."""
        if self.url is None:
            return f"sqlite:{self.sqlite_path}"
        from sqlalchemy.engine import make_url

        url = make_url(self.url)
        port = f":{url.port}" if url.port else ""
        return f"postgresql://{url.host or ''}{port}/{url.database}"
