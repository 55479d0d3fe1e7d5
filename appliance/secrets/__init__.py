"""The agent's secrets: one SecretManager (TTL cache) in front of one backend.

::

    secrets = build_secret_manager(settings.secrets)
    password = secrets.get("postgres/sovereign", "password")   # SecretStr
    secrets.put("agent/nextcloud", {"token": "…"})             # vault and aws only

Backends: ``env`` (development; see appliance.secrets.env for the variable names), ``vault``
(AppRole, KV v2, renewal, retries, circuit breaker) and ``aws`` (Secrets Manager, extra
``aws``). Values are pydantic SecretStr throughout; errors name secrets, never values.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from appliance.secrets.backend import CasBackend, SecretBackend, VersionedSecret
from appliance.secrets.errors import (
    SecretConflict,
    SecretDenied,
    SecretError,
    SecretNotFound,
    SecretReadOnly,
    SecretsConfigError,
    SecretUnavailable,
)
from appliance.secrets.manager import SecretManager

if TYPE_CHECKING:
    from appliance.secrets.settings import SecretsSettings

__all__ = [
    "CasBackend",
    "SecretBackend",
    "SecretConflict",
    "SecretDenied",
    "SecretError",
    "SecretManager",
    "SecretNotFound",
    "SecretReadOnly",
    "SecretUnavailable",
    "SecretsConfigError",
    "VersionedSecret",
    "build_backend",
    "build_secret_manager",
]


def build_backend(settings: SecretsSettings) -> SecretBackend:
    """The configured backend. Does no I/O: the agent starts even while Vault is down."""
    if settings.backend == "vault":
        from appliance.secrets.vault import VaultBackend

        return VaultBackend(settings.vault)
    if settings.backend == "aws":
        from appliance.secrets.aws import AwsBackend

        return AwsBackend(settings.aws)
    from appliance.secrets.env import EnvBackend

    return EnvBackend(settings.env_file)


def build_secret_manager(settings: SecretsSettings) -> SecretManager:
    return SecretManager(
        build_backend(settings), settings.cache_ttl_s, stale_max_s=settings.stale_max_s
    )
