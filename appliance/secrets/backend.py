"""What a secret backend implements. The SecretManager puts a TTL cache in front of one."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import SecretStr

from appliance.secrets.errors import SecretReadOnly
from appliance.secrets.names import SECRET_FIELD

Fields = dict[str, SecretStr]


def check_fields(name: str, fields: Mapping[str, str | SecretStr]) -> Fields:
    """Field names checked, values wrapped in SecretStr."""
    if not fields:
        raise ValueError(f"secret {name}: no fields to write")
    out: Fields = {}
    for key, value in fields.items():
        if not SECRET_FIELD.fullmatch(key):
            raise ValueError(f"secret {name}: invalid field name {key!r}")
        out[key] = value if isinstance(value, SecretStr) else SecretStr(value)
    return out


def reveal(fields: Mapping[str, SecretStr]) -> dict[str, str]:
    """Plain values, for handing to a backend client only."""
    return {key: value.get_secret_value() for key, value in fields.items()}


@dataclass(frozen=True, slots=True)
class VersionedSecret:
    """A secret with the version a check-and-set write must name.

    ``fields`` is None when the secret is absent (never written, or its latest version
    deleted); ``version`` is then what a create must name (0 for never written).
    """

    fields: Fields | None
    version: int


class SecretBackend(ABC):
    """One store of secrets. Methods raise the errors of appliance.secrets.errors."""

    #: Short name used in messages and health details ("env", "vault", "aws").
    kind: str
    #: Whether put() can work at all.
    writable: bool = False

    @abstractmethod
    def read(self, name: str) -> Fields: ...

    def write(self, name: str, fields: Fields) -> None:
        raise SecretReadOnly(name, self.kind)

    def probe(self) -> None:  # noqa: B027 - optional hook: only remote backends have a breaker
        """Ask the backend once now, bypassing a circuit breaker's cooldown; raise
        SecretUnavailable when it cannot answer. The default has nothing to probe."""

    def status(self) -> dict[str, Any]:
        """Facts for health details (breaker state, logins…); never a value or a token."""
        return {"backend": self.kind}

    def close(self) -> None:  # noqa: B027 - optional hook, most backends hold nothing
        """Release clients; the default has none."""


class CasBackend(SecretBackend):
    """A backend with versioned reads and check-and-set writes (Vault KV v2)."""

    writable = True

    @abstractmethod
    def read_versioned(self, name: str) -> VersionedSecret: ...

    @abstractmethod
    def write_cas(self, name: str, fields: Fields, version: int) -> int:
        """Write only if the secret is still at ``version``; returns the new version.

        Raises SecretConflict when another writer came first.
        """
