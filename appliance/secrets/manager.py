"""SecretManager: the agent's one way to secrets, a TTL cache in front of a backend.

A fetched secret is served from memory for ``ttl_s`` without asking the backend. After that
the backend is asked again; if it cannot answer (down, sealed, breaker open) the known value
is served *stale* for up to ``stale_max_s`` more, and marked so (``stale()``: name -> age,
shown in the vault check), instead of failing every user of the secret: PostgreSQL keeps
serving with the password it had while Vault is away, so the agent must not call it down.
An answer that the secret is gone or denied drops the cached value at once. Errors are not
cached; values are never logged.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import SecretStr

from appliance.secrets.backend import (
    CasBackend,
    Fields,
    SecretBackend,
    VersionedSecret,
    check_fields,
)
from appliance.secrets.errors import (
    SecretDenied,
    SecretNotFound,
    SecretReadOnly,
    SecretUnavailable,
)
from appliance.secrets.names import check_secret_name

log = logging.getLogger(__name__)


class SecretManager:
    """get/get_all/put by name; values are SecretStr, so they stay out of reprs and logs."""

    def __init__(
        self,
        backend: SecretBackend,
        ttl_s: float,
        clock: Callable[[], float] = time.monotonic,
        stale_max_s: float = 86_400.0,
    ) -> None:
        self._backend = backend
        self._ttl = ttl_s
        self._stale_max = stale_max_s
        self._clock = clock
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, Fields]] = {}
        # Secrets whose last answer was the stale value: name -> why the backend failed.
        self._stale: dict[str, str] = {}

    @property
    def backend(self) -> SecretBackend:
        return self._backend

    @property
    def kind(self) -> str:
        return self._backend.kind

    def get(self, name: str, field: str) -> SecretStr:
        fields = self.get_all(name)
        try:
            return fields[field]
        except KeyError:
            raise SecretNotFound(name, field) from None

    def get_all(self, name: str) -> dict[str, SecretStr]:
        check_secret_name(name)
        entry = self._entry(name)
        if entry is not None and self._clock() - entry[0] < self._ttl:
            return dict(entry[1])
        try:
            fields = self._backend.read(name)
        except SecretUnavailable as exc:
            if entry is None or self._clock() - entry[0] >= self._ttl + self._stale_max:
                raise
            self._serve_stale(
                name, self._clock() - entry[0], exc.reason.removeprefix("unavailable: ")
            )
            return dict(entry[1])
        except (SecretNotFound, SecretDenied):
            self.invalidate(name)  # an answer: the old value must not be served any more
            raise
        self._remember(name, fields)
        log.debug("secret %s fetched from %s", name, self._backend.kind)
        return dict(fields)

    def stale(self) -> dict[str, float]:
        """Secrets whose last answer was a stale value: name -> age of that value (s)."""
        now = self._clock()
        with self._lock:
            return {
                name: round(now - self._cache[name][0], 1)
                for name in self._stale
                if name in self._cache
            }

    def stale_age_s(self, name: str) -> float | None:
        """Age of the value last served for ``name`` when it was served stale, else None."""
        return self.stale().get(name)

    def recover(self) -> None:
        """Evidence says the backend is back (the vault check saw it healthy): probe it at once
        instead of waiting for the breaker's cooldown, then fetch every stale secret again.
        Raises the backend's errors when it still cannot answer."""
        self._backend.probe()
        for name in list(self.stale()):
            self.get_all(name)

    def put(self, name: str, fields: Mapping[str, str | SecretStr]) -> None:
        """Write every field of the secret (a new version replaces the old one whole)."""
        check_secret_name(name)
        checked = check_fields(name, fields)
        self._backend.write(name, checked)
        self._remember(name, checked)

    def invalidate(self, name: str) -> None:
        """Forget a cached value, e.g. after the password it held was refused."""
        with self._lock:
            self._cache.pop(name, None)
            self._stale.pop(name, None)

    # Versioned access for read-modify-write (TOTP replay state): never cached, since a
    # check-and-set write must name the backend's current version.

    def read_versioned(self, name: str) -> VersionedSecret:
        check_secret_name(name)
        return self._cas(name).read_versioned(name)

    def write_cas(self, name: str, fields: Mapping[str, str | SecretStr], version: int) -> int:
        check_secret_name(name)
        checked = check_fields(name, fields)
        new_version = self._cas(name).write_cas(name, checked, version)
        self.invalidate(name)
        return new_version

    @property
    def supports_cas(self) -> bool:
        return isinstance(self._backend, CasBackend)

    def status(self) -> dict[str, Any]:
        """Backend facts plus the cache's: names and ages of stale secrets, never values."""
        stale = self.stale()
        with self._lock:
            cached = len(self._cache)
            reasons = sorted(set(self._stale.values()))
        facts = {**self._backend.status(), "cached_secrets": cached, "stale_secrets": stale}
        if reasons:
            facts["stale_because"] = "; ".join(reasons)
        return facts

    def close(self) -> None:
        with self._lock:
            self._cache.clear()
        self._backend.close()

    def __repr__(self) -> str:
        return f"SecretManager(backend={self._backend.kind!r}, ttl_s={self._ttl:g})"

    def _cas(self, name: str) -> CasBackend:
        if not isinstance(self._backend, CasBackend):
            raise SecretReadOnly(name, self._backend.kind, "check-and-set writes")
        return self._backend

    def _entry(self, name: str) -> tuple[float, Fields] | None:
        with self._lock:
            return self._cache.get(name)

    def _serve_stale(self, name: str, age_s: float, reason: str) -> None:
        with self._lock:
            first = name not in self._stale
            self._stale[name] = reason
        if first:  # once per outage and secret; the vault check shows the running age
            log.warning(
                "secret %s served stale (fetched %.0f s ago) while %s cannot answer: %s",
                name,
                age_s,
                self._backend.kind,
                reason,
            )

    def _remember(self, name: str, fields: Fields) -> None:
        with self._lock:
            was_stale = self._stale.pop(name, None) is not None
            if self._ttl > 0:
                self._cache[name] = (self._clock(), dict(fields))
        if was_stale:
            log.info("secret %s fresh again from %s", name, self._backend.kind)
