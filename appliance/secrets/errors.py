"""Secret errors. Every message names the secret (and field), never a value."""

from __future__ import annotations

from appliance.errors import ApplianceError, BackendUnavailable


class SecretError(ApplianceError):
    """Base of the secret manager's errors."""

    def __init__(self, name: str, reason: str) -> None:
        self.secret_name = name
        self.reason = reason
        super().__init__(f"secret {name} {reason}")


class SecretNotFound(SecretError):
    """The secret, or the asked field of it, does not exist."""

    def __init__(self, name: str, field: str | None = None, detail: str = "") -> None:
        what = f"has no field {field!r}" if field else "not found"
        super().__init__(name, what + (f" ({detail})" if detail else ""))


class SecretDenied(SecretError):
    """The backend answered and refused: the agent's policy does not cover this secret."""

    def __init__(self, name: str, backend: str) -> None:
        super().__init__(name, f"denied: the agent's {backend} policy does not allow it")


class SecretUnavailable(SecretError, BackendUnavailable):
    """The backend cannot answer (down, sealed, breaker open) and no cached value is fresh."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(name, f"unavailable: {reason}")


class SecretConflict(SecretError):
    """A check-and-set write lost: the secret changed since it was read."""

    def __init__(self, name: str) -> None:
        super().__init__(name, "changed since it was read (check-and-set conflict)")


class SecretReadOnly(SecretError):
    """The backend cannot write (env), or not with check-and-set (aws)."""

    def __init__(self, name: str, backend: str, writes: str = "writes") -> None:
        super().__init__(name, f"cannot be written: the {backend} backend has no {writes}")


class SecretsConfigError(ApplianceError):
    """The configured backend cannot be built (e.g. boto3 missing for `aws`)."""
