"""The agent's Vault token: AppRole login, renewal, and a fresh login when it runs out.

The token is renewed once two thirds of its lease are gone, and replaced by a fresh login when
renewal fails, when the token reaches its max TTL, or when Vault says it is gone (revoked; the
backend finds that out and calls ``forget()``).

Not thread-safe by itself: the backend calls it under its own lock, so one token is never
renewed and replaced by two threads at once.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import hvac
import requests
from hvac import exceptions as vault_errors

if TYPE_CHECKING:
    from appliance.secrets.settings import VaultClientSettings

log = logging.getLogger(__name__)

#: Renew once this fraction of the lease is gone; a renewal granting less than the remaining
#: fraction means the token is near its max TTL, and a fresh login is due.
RENEW_AFTER = 2 / 3
#: A token this close to its end (fraction of the lease) is not used any more.
EXPIRY_MARGIN = 0.1


class LoginRefused(Exception):
    """Vault answered the AppRole login with a refusal, or the credential files are unusable."""


@dataclass(slots=True)
class _Lease:
    expires_at: float
    renew_at: float
    duration_s: float
    renewable: bool

    @classmethod
    def from_auth(cls, auth: dict[str, Any], now: float) -> _Lease:
        duration = float(auth.get("lease_duration") or 0)
        if duration <= 0:  # a token without expiry (never an AppRole token, but be exact)
            return cls(math.inf, math.inf, 0.0, False)
        return cls(
            expires_at=now + duration * (1 - EXPIRY_MARGIN),
            renew_at=now + duration * RENEW_AFTER,
            duration_s=duration,
            renewable=bool(auth.get("renewable")),
        )


def read_credential(path: Path, what: str) -> str:
    """One AppRole credential file's content; LoginRefused when it is unreadable or empty."""
    try:
        value = path.read_text().strip()
    except OSError as exc:
        raise LoginRefused(f"cannot read the AppRole {what} ({path}): {exc.strerror}") from None
    if not value:
        raise LoginRefused(f"the AppRole {what} file {path} is empty")
    return value


class VaultTokenLifecycle:
    """Keeps a usable token on ``client``: logs in, renews, logs in again."""

    def __init__(
        self, client: hvac.Client, settings: VaultClientSettings, clock: Callable[[], float]
    ) -> None:
        self._client = client
        self._settings = settings
        self._clock = clock
        self._lease: _Lease | None = None
        # The lease a fresh login grants: a renewal granting much less means max TTL is near.
        self._login_lease_s = 0.0
        self.logins = 0
        self.renewals = 0

    @property
    def logged_in(self) -> bool:
        return self._lease is not None

    def ttl_s(self) -> float | None:
        """Seconds until the token is no longer used; None without a token or expiry."""
        lease = self._lease
        if lease is None or lease.expires_at == math.inf:
            return None
        return round(max(0.0, lease.expires_at - self._clock()), 1)

    def ensure(self) -> None:
        """A token good for the next call: login or renewal when due. Raises LoginRefused, or
        the client's errors when Vault cannot answer."""
        now = self._clock()
        lease = self._lease
        if lease is None or now >= lease.expires_at:
            self._login()
        elif lease.renewable and now >= lease.renew_at:
            self._renew()

    def forget(self) -> None:
        """The token is gone (revoked, expired, shut down): the next ensure() logs in."""
        self._lease = None

    def alive(self) -> bool:
        """Whether Vault still knows the token (a 403 can mean it does not)."""
        try:
            self._client.auth.token.lookup_self()
        except vault_errors.Forbidden:
            return False
        except (vault_errors.VaultError, requests.exceptions.RequestException):
            # Cannot tell: a fresh login is the safe guess; a real denial repeats after it.
            return False
        return True

    def revoke(self) -> None:
        """Revoke the token (best effort, one try: Vault may be down at shutdown)."""
        try:
            self._client.auth.token.revoke_self()
        except (vault_errors.VaultError, requests.exceptions.RequestException) as exc:
            log.info("vault: token not revoked at shutdown (%s)", type(exc).__name__)

    def _login(self) -> None:
        role_id = read_credential(self._settings.role_id_file, "role-id")
        secret_id = read_credential(self._settings.secret_id_file, "secret-id")
        self._client.token = ""
        try:
            response = self._client.auth.approle.login(
                role_id=role_id, secret_id=secret_id, mount_point=self._settings.approle_mount
            )
        except (vault_errors.InvalidRequest, vault_errors.Forbidden) as exc:
            # Vault's reason ("invalid role or secret ID", a CIDR restriction) never echoes the
            # credentials.
            detail = "; ".join(exc.errors or []) or type(exc).__name__
            raise LoginRefused(f"vault AppRole login refused: {detail[:200]}") from None
        self._lease = _Lease.from_auth(response["auth"], self._clock())
        self._login_lease_s = self._lease.duration_s
        self.logins += 1
        log.info("vault: logged in with AppRole (lease %.0f s)", self._lease.duration_s)

    def _renew(self) -> None:
        try:
            response = self._client.auth.token.renew_self()
        except (vault_errors.Forbidden, vault_errors.InvalidRequest):
            log.info("vault: token renewal refused; logging in again")
            self._login()
            return
        renewed = _Lease.from_auth(response["auth"], self._clock())
        self.renewals += 1
        if renewed.duration_s < self._login_lease_s * (1 - RENEW_AFTER):
            log.info("vault: token near its max TTL; logging in again")
            self._login()
            return
        self._lease = renewed
