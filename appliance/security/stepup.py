"""TOTP step-up for privileged operations, on the TOTP service (appliance/totp.py).

A privileged call needs, besides its role, either a TOTP code of the token's principal (the
token's name) accepted now (single use: the service refuses a replay, across agents), or a
step-up grant: a short-lived random id made by one accepted code, good for ``ttl_s`` and only
with the token that made it. Grants live in this process's memory (an agent restart ends
them; they are never written anywhere) and are kept as their SHA-256.

Without ``[totp]`` (no Vault: development), every privileged operation is refused with that
reason: never allowed silently.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from appliance.errors import ApplianceError
from appliance.totp import TotpError, TotpService, UnknownPrincipal

NOT_CONFIGURED = (
    "privileged operations need a TOTP second factor, and TOTP is not configured on this "
    "agent ([totp] with secrets.backend = 'vault'): refused"
)


class StepUpError(ApplianceError):
    """A step-up was not given or not accepted; ``code`` says which, the message why."""

    def __init__(self, code: str, reason: str) -> None:
        self.code = code
        super().__init__(reason)


@dataclass(frozen=True, slots=True)
class Grant:
    #: Show once to the caller (header X-Step-Up); never logged.
    grant: str
    expires_at: float

    def __repr__(self) -> str:
        return f"Grant(grant=***, expires_at={self.expires_at})"


@dataclass(frozen=True, slots=True)
class _Held:
    token_id: str
    expires_at: float


class StepUpService:
    def __init__(
        self,
        totp: TotpService | None,
        ttl_s: float = 300.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.totp = totp
        self._ttl = ttl_s
        self._clock = clock
        self._lock = threading.Lock()
        self._grants: dict[str, _Held] = {}

    @property
    def available(self) -> bool:
        return self.totp is not None

    def _service(self) -> TotpService:
        if self.totp is None:
            raise StepUpError("step_up_unavailable", NOT_CONFIGURED)
        return self.totp

    def check_code(self, principal: str, code: str) -> None:
        """Accept ``code`` once for ``principal`` (blocking: Vault) or raise StepUpError."""
        totp = self._service()
        try:
            totp.verify(principal, code)
        except UnknownPrincipal:
            raise StepUpError(
                "totp_not_enrolled",
                f"{principal!r} has no TOTP enrolment: an admin enrols it "
                "(POST /api/auth/totp/enrol)",
            ) from None
        except ValueError as exc:  # a principal TOTP cannot name
            raise StepUpError("step_up_failed", str(exc)) from None
        except TotpError as exc:
            raise StepUpError("step_up_failed", str(exc)) from None

    def grant(self, principal: str, token_id: str, code: str) -> Grant:
        """Trade one accepted code for a grant bound to ``token_id``."""
        self.check_code(principal, code)
        return self.issue(token_id)

    def issue(self, token_id: str) -> Grant:
        """A grant for ``token_id``: only after check_code accepted a code of its principal."""
        grant = "sg_" + secrets.token_urlsafe(32)
        expires_at = self._clock() + self._ttl
        with self._lock:
            self._drop_expired()
            self._grants[_digest(grant)] = _Held(token_id, expires_at)
        return Grant(grant, expires_at)

    def check_grant(self, grant: str, token_id: str) -> None:
        self._service()
        with self._lock:
            held = self._grants.get(_digest(grant))
        if held is None or held.expires_at <= self._clock():
            raise StepUpError("step_up_failed", "step-up grant unknown or expired")
        if held.token_id != token_id:
            raise StepUpError("step_up_failed", "step-up grant belongs to another token")

    def revoke_token(self, token_id: str) -> None:
        """A revoked token's grants go with it."""
        with self._lock:
            for key in [k for k, v in self._grants.items() if v.token_id == token_id]:
                del self._grants[key]

    def _drop_expired(self) -> None:
        now = self._clock()
        for key in [k for k, v in self._grants.items() if v.expires_at <= now]:
            del self._grants[key]


def _digest(grant: str) -> str:
    return hashlib.sha256(grant.encode()).hexdigest()
