"""Vault (OpenBao) backend: KV v2 secrets and transit, through an AppRole token.

- Login with the role-id and secret-id files the role installs; the token is renewed once two
  thirds of its lease are gone, and replaced by a fresh login when renewal fails, when the
  token reaches its max TTL, or when Vault says it is gone (revoked): see vault_token.py.
- Transient failures (connection, timeout, 5xx, sealed) are retried with exponential backoff
  and jitter; each failed call counts toward a circuit breaker that, once open, fails fast
  until its cooldown ends. Answers (not found, denied) are not failures.
- TLS is verified against ``ca_cert``; proxy and CA variables of the environment are ignored
  (the agent talks to its own Vault on the loopback).

Calls are serialised by a lock: the agent makes few (the SecretManager caches), and one token
must not be renewed and replaced by two threads at once.
"""

from __future__ import annotations

import base64
import json
import logging
import random
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import hvac
import requests
from hvac import exceptions as vault_errors
from pydantic import SecretStr

from appliance.secrets.backend import CasBackend, Fields, VersionedSecret, reveal
from appliance.secrets.errors import (
    SecretConflict,
    SecretDenied,
    SecretError,
    SecretNotFound,
    SecretUnavailable,
)
from appliance.secrets.resilience import Backoff, BreakerState, CircuitBreaker
from appliance.secrets.vault_token import LoginRefused, VaultTokenLifecycle

if TYPE_CHECKING:
    from appliance.secrets.settings import VaultClientSettings

log = logging.getLogger(__name__)

T = TypeVar("T")

_TRANSIENT: tuple[type[BaseException], ...] = (
    requests.exceptions.RequestException,  # connection refused/reset, timeouts, broken reads
    vault_errors.VaultDown,
    vault_errors.InternalServerError,
    vault_errors.BadGateway,
    vault_errors.RateLimitExceeded,
    vault_errors.UnexpectedError,
)
#: Failures that count toward the breaker but that an immediate retry cannot cure.
_NOT_RETRIED: tuple[type[BaseException], ...] = (
    requests.exceptions.SSLError,
    vault_errors.VaultNotInitialized,
)


def describe(exc: BaseException, timeout_s: float) -> str:
    """Why Vault could not answer, in words safe to log (no URL query, no body)."""
    if isinstance(exc, requests.exceptions.SSLError):
        return "vault TLS verification failed (check ca_cert)"
    if isinstance(exc, requests.exceptions.Timeout):
        return f"vault did not answer within {timeout_s:g} s"
    if isinstance(exc, requests.exceptions.ConnectionError):
        return "vault unreachable"
    if isinstance(exc, requests.exceptions.RequestException):
        return f"vault request failed ({type(exc).__name__})"
    if isinstance(exc, vault_errors.VaultDown):
        errors = " ".join(exc.errors or []).lower()
        return "vault sealed" if "sealed" in errors else "vault unavailable (HTTP 503)"
    if isinstance(exc, vault_errors.VaultNotInitialized):
        return "vault not initialised"
    status = {
        vault_errors.InternalServerError: 500,
        vault_errors.BadGateway: 502,
        vault_errors.RateLimitExceeded: 429,
    }.get(type(exc))
    return f"vault error (HTTP {status})" if status else f"vault error ({type(exc).__name__})"


def _string_fields(data: dict[str, Any]) -> Fields:
    # KV holds JSON; the agent's secrets are flat string fields, anything else is serialised.
    return {
        key: SecretStr(value if isinstance(value, str) else json.dumps(value))
        for key, value in data.items()
    }


class VaultBackend(CasBackend):
    kind = "vault"

    def __init__(
        self,
        settings: VaultClientSettings,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self._settings = settings
        self._sleep = sleep
        self._rng = rng
        self._backoff = Backoff(settings.backoff_initial_s, settings.backoff_max_s)
        self.breaker = CircuitBreaker(
            settings.breaker_failures, settings.breaker_cooldown_s, clock=clock
        )
        # token="" so hvac does not pick up VAULT_TOKEN or ~/.vault-token from the environment.
        self._client = hvac.Client(
            url=settings.address,
            token="",
            verify=str(settings.ca_cert) if settings.ca_cert else True,
            timeout=settings.timeout_s,
        )
        self._client.session.trust_env = False
        self._lock = threading.RLock()
        self._token = VaultTokenLifecycle(self._client, settings, clock)

    def __repr__(self) -> str:
        return f"VaultBackend(address={self._settings.address!r})"

    @property
    def logins(self) -> int:
        return self._token.logins

    @property
    def renewals(self) -> int:
        return self._token.renewals

    # -- KV v2 ------------------------------------------------------------------------------

    def read(self, name: str) -> Fields:
        found = self.read_versioned(name)
        if found.fields is None:
            raise SecretNotFound(name, detail="deleted" if found.version else "")
        return found.fields

    def read_versioned(self, name: str) -> VersionedSecret:
        kv = self._settings.kv_mount

        def op(client: Any) -> VersionedSecret:
            try:
                response = client.secrets.kv.v2.read_secret_version(
                    path=name, mount_point=kv, raise_on_deleted_version=True
                )
            except vault_errors.InvalidPath as exc:
                # A deleted latest version still answers with its metadata: the version a
                # check-and-set create must name.
                body = exc.json if isinstance(exc.json, dict) else {}
                metadata = (body.get("data") or {}).get("metadata") or {}
                return VersionedSecret(None, int(metadata.get("version") or 0))
            data = response["data"]
            version = int(data["metadata"]["version"])
            return VersionedSecret(_string_fields(data["data"] or {}), version)

        return self._call(name, op)

    def write(self, name: str, fields: Fields) -> None:
        self._write(name, fields, None)

    def write_cas(self, name: str, fields: Fields, version: int) -> int:
        return self._write(name, fields, version)

    def _write(self, name: str, fields: Fields, cas: int | None) -> int:
        kv = self._settings.kv_mount

        def op(client: Any) -> int:
            try:
                response = client.secrets.kv.v2.create_or_update_secret(
                    path=name, secret=reveal(fields), cas=cas, mount_point=kv
                )
            except vault_errors.InvalidRequest as exc:
                if cas is not None and "check-and-set" in " ".join(exc.errors or []):
                    raise SecretConflict(name) from None
                raise
            return int(response["data"]["version"])

        return self._call(name, op)

    # -- transit ----------------------------------------------------------------------------

    def encrypt(self, key: str, plaintext: bytes) -> str:
        """Ciphertext (``vault:v1:…``) of ``plaintext`` under transit key ``key``."""
        mount = self._settings.transit_mount
        encoded = base64.b64encode(plaintext).decode()

        def op(client: Any) -> str:
            response = client.secrets.transit.encrypt_data(
                name=key, plaintext=encoded, mount_point=mount
            )
            return str(response["data"]["ciphertext"])

        return self._call(f"{mount}/{key}", op)

    def decrypt(self, key: str, ciphertext: str) -> SecretStr:
        """The plaintext (base64-decoded, as text) of a ``vault:v…`` ciphertext."""
        mount = self._settings.transit_mount

        def op(client: Any) -> SecretStr:
            response = client.secrets.transit.decrypt_data(
                name=key, ciphertext=ciphertext, mount_point=mount
            )
            return SecretStr(base64.b64decode(response["data"]["plaintext"]).decode())

        return self._call(f"{mount}/{key}", op)

    # -- the call path: breaker, token, retries --------------------------------------------

    def _call(self, name: str, op: Callable[[Any], T]) -> T:
        with self._lock:
            attempt = 0
            logged_in_again = False
            while True:
                if not self.breaker.allow():
                    raise SecretUnavailable(name, self._open_reason())
                try:
                    self._token.ensure()
                    result = op(self._client)
                except SecretError:
                    self.breaker.record_success()  # Vault answered (a conflict)
                    raise
                except LoginRefused as exc:
                    self.breaker.record_success()
                    raise SecretUnavailable(name, str(exc)) from None
                except vault_errors.Forbidden:
                    self.breaker.record_success()
                    # A revoked or expired token and a policy refusal both answer 403; only the
                    # first is cured by logging in again.
                    if not logged_in_again and not self._token.alive():
                        self._token.forget()
                        logged_in_again = True
                        continue
                    raise SecretDenied(name, "vault") from None
                except vault_errors.InvalidPath:
                    self.breaker.record_success()
                    raise SecretNotFound(name) from None
                except _TRANSIENT + _NOT_RETRIED as exc:
                    reason = describe(exc, self._settings.timeout_s)
                    self.breaker.record_failure(reason)
                    if isinstance(exc, _NOT_RETRIED) or attempt >= self._settings.retries:
                        raise SecretUnavailable(name, reason) from None
                    delay = self._backoff.delay(attempt, self._rng)
                    log.debug("vault call for %s failed (%s); retry in %.2f s", name, reason, delay)
                    self._sleep(delay)
                    attempt += 1
                    continue
                except vault_errors.VaultError as exc:
                    self.breaker.record_success()
                    # Vault's own error text (never a request body), for a clear failure.
                    detail = "; ".join(exc.errors or []) or type(exc).__name__
                    raise SecretUnavailable(name, f"vault refused: {detail[:200]}") from None
                self.breaker.record_success()
                return result

    def probe(self) -> None:
        """One authenticated call now (token lookup, logging in again when the token ran out
        during the outage), the breaker's cooldown cut short: closes the breaker within a
        health round of Vault's return instead of a cooldown later."""
        self.breaker.half_open_now()
        self._call("auth/token/lookup-self", lambda client: client.auth.token.lookup_self())

    def _open_reason(self) -> str:
        return (
            f"{self.breaker.last_failure or 'vault failing'} (circuit breaker open, next try "
            f"in {self.breaker.retry_in_s():.0f} s)"
        )

    # -- lifecycle and facts ----------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        return {
            "backend": self.kind,
            **self.breaker.snapshot(),
            "logged_in": self._token.logged_in,
            "token_ttl_s": self._token.ttl_s(),
            "logins": self.logins,
            "renewals": self.renewals,
        }

    def close(self) -> None:
        """Revoke the token (best effort, one try: Vault may be down at shutdown)."""
        with self._lock:
            if self._token.logged_in and self.breaker.state is BreakerState.CLOSED:
                self._token.revoke()
            self._token.forget()
            self._client.token = ""
            self._client.session.close()
