"""SecretManager: the agent's one way to secrets, a TTL cache in front of a backend.

A fetched secret is served from memory for ``ttl_s`` without asking the backend, so a Vault
restart, seal or open circuit breaker costs nothing until the TTL runs out; after that the
backend is asked again and, if it cannot answer, SecretUnavailable is raised: a stale
password is never served indefinitely. Errors are not cached.
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
from appliance.secrets.errors import SecretNotFound, SecretReadOnly
from appliance.secrets.names import check_secret_name

log = logging.getLogger(__name__)


class SecretManager:
    """get/get_all/put by name; values are SecretStr, so they stay out of reprs and logs."""

    def __init__(
        self,
        backend: SecretBackend,
        ttl_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._backend = backend
        self._ttl = ttl_s
        self._clock = clock
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, Fields]] = {}

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
        cached = self._fresh(name)
        if cached is not None:
            return dict(cached)
        fields = self._backend.read(name)
        self._remember(name, fields)
        log.debug("secret %s fetched from %s", name, self._backend.kind)
        return dict(fields)

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
        with self._lock:
            cached = len(self._cache)
        return {**self._backend.status(), "cached_secrets": cached}

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

    def _fresh(self, name: str) -> Fields | None:
        with self._lock:
            entry = self._cache.get(name)
            if entry is None:
                return None
            fetched_at, fields = entry
            if self._clock() - fetched_at < self._ttl:
                return fields
            del self._cache[name]
            return None

    def _remember(self, name: str, fields: Fields) -> None:
        if self._ttl <= 0:
            return
        with self._lock:
            self._cache[name] = (self._clock(), dict(fields))
