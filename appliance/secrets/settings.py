"""Secrets settings: the ``[secrets]`` table of the agent's config and its backends' tables."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

_MOUNT = r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$"

# Where an appliance keeps the agent's Vault credentials and the Vault CA. The vault role
# writes these files (roles/vault/layout.py imports these names: one place for both sides).
VAULT_CA_CERT = "/etc/sovereign/vault/tls/ca.crt"
AGENT_ROLE_ID_FILE = "/etc/sovereign/vault/agent/role-id"
AGENT_SECRET_ID_FILE = "/etc/sovereign/vault/agent/secret-id"  # noqa: S105 - a path


class VaultClientSettings(BaseModel):
    """The agent's Vault (OpenBao) client: AppRole login from two files, KV v2 reads and writes.

    Not the Vault server's settings (roles/vault/settings.py: VaultServerSettings).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    address: str = Field(default="https://127.0.0.1:8200", pattern=r"^https?://[^/\s]+/?$")
    ca_cert: Path | None = Field(
        default=Path(VAULT_CA_CERT),
        description="CA bundle the server certificate must chain to; empty: the system's CAs.",
    )
    role_id_file: Path = Path(AGENT_ROLE_ID_FILE)
    secret_id_file: Path = Path(AGENT_SECRET_ID_FILE)
    approle_mount: str = Field(default="approle", pattern=_MOUNT)
    kv_mount: str = Field(default="sovereign", pattern=_MOUNT)
    transit_mount: str = Field(default="transit", pattern=_MOUNT)
    timeout_s: float = Field(default=3.0, gt=0, le=60, description="Per HTTP request.")
    retries: int = Field(
        default=2, ge=0, le=10, description="Extra attempts after a transient failure."
    )
    backoff_initial_s: float = Field(default=0.1, gt=0, le=60)
    backoff_max_s: float = Field(default=1.0, gt=0, le=300)
    breaker_failures: int = Field(
        default=5, ge=1, le=1000, description="Consecutive failed calls that open the breaker."
    )
    breaker_cooldown_s: float = Field(
        default=2.0,
        gt=0,
        le=3600,
        description="How long an open breaker fails fast before one trial call; the vault "
        "health check also ends it early once Vault answers sys/health again.",
    )

    @field_validator("address")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @field_validator("ca_cert", mode="before")
    @classmethod
    def _empty_is_system(cls, value: object) -> object:
        return None if value == "" else value

    @model_validator(mode="after")
    def _backoff_order(self) -> Self:
        if self.backoff_initial_s > self.backoff_max_s:
            raise ValueError("secrets.vault.backoff_initial_s must not exceed backoff_max_s")
        return self


class AwsSecretsSettings(BaseModel):
    """AWS Secrets Manager; credentials come from boto3's default chain (instance role…)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    region: str | None = Field(default=None, description="Unset: boto3's default region.")
    prefix: str = Field(
        default="sovereign/", description="Prepended to a secret's name to form its SecretId."
    )
    timeout_s: float = Field(default=3.0, gt=0, le=60)


class SecretsSettings(BaseModel):
    """Where the agent reads its secrets (see appliance/secrets)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    backend: Literal["env", "vault", "aws"] = Field(
        default="env", description="env: process environment (+ env_file), for development."
    )
    cache_ttl_s: float = Field(
        default=300.0,
        ge=0,
        le=86_400,
        description="How long a fetched value is served without asking the backend; 0: no "
        "cache (and nothing to serve stale).",
    )
    stale_max_s: float = Field(
        default=86_400.0,
        ge=0,
        le=30 * 86_400,
        description="How long past the TTL a known value is served, marked stale, while the "
        "backend cannot answer; then SecretUnavailable. 0: never serve stale.",
    )
    env_file: Path | None = Field(
        default=None, description="env backend: a dotenv file read under the process environment."
    )
    vault: VaultClientSettings = Field(default_factory=VaultClientSettings)
    aws: AwsSecretsSettings = Field(default_factory=AwsSecretsSettings)
