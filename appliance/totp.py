"""TOTP (RFC 6238) second factor, for authorising privileged operations.

``enrol(principal)`` creates a seed and returns its provisioning URI once; ``verify(principal,
code)`` accepts a code within ``valid_window`` steps of now, and never the same time step
twice, nor any step older than the last accepted one (so a code seen over a shoulder or in a
log is worthless once used).

Where the replay state lives, and why: the seed and the last accepted step are one KV v2
secret, ``agent/totp/<principal>``, and an acceptance is a check-and-set write of that secret.

- One record: seed and replay state cannot disagree (no seed restored without its state).
- Check-and-set makes acceptance atomic: two agents, or two requests, verifying the same code
  race on the secret's version; one write wins, the other re-reads and finds the step used.
  The agent's own store (a per-host SQLite file by default) cannot give that across hosts.
- It survives agent restarts and re-installs, and is backed up with Vault.

The cost is a Vault write per accepted code (privileged operations are rare), and that
verification needs Vault: with Vault sealed a second factor fails closed, as it should. Seeds
never go through the SecretManager's cache. Rate-limiting guesses is the caller's job (the
API that will use this service).
"""

from __future__ import annotations

import hmac
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

import pyotp
from pydantic import SecretStr

from appliance.errors import ApplianceError
from appliance.secrets import SecretConflict, SecretManager
from appliance.totp_settings import TotpSettings

#: One path segment: letters, digits and ``_ - . @``, not starting with a dot.
PRINCIPAL = re.compile(r"[A-Za-z0-9_@-][A-Za-z0-9_.@-]{0,127}")
RECORD_PREFIX = "agent/totp/"
#: check-and-set rounds before giving up under contention (each loser re-reads).
CAS_ATTEMPTS = 5


class TotpError(ApplianceError):
    """Base of TOTP errors. Messages name the principal, never a seed or a code."""


class UnknownPrincipal(TotpError):
    def __init__(self, principal: str) -> None:
        self.principal = principal
        super().__init__(f"no TOTP enrolment for {principal!r}")


class AlreadyEnrolled(TotpError):
    def __init__(self, principal: str) -> None:
        self.principal = principal
        super().__init__(f"{principal!r} is already enrolled for TOTP (enrol with replace=True)")


class InvalidCode(TotpError):
    def __init__(self, principal: str, why: str = "does not match") -> None:
        self.principal = principal
        super().__init__(f"TOTP code for {principal!r} {why}")


class ReplayedCode(InvalidCode):
    """The code matches, but its time step (or a later one) was already accepted."""

    def __init__(self, principal: str) -> None:
        super().__init__(principal, "was already used (or an older one than the last used)")


@dataclass(frozen=True, slots=True)
class Enrolment:
    principal: str
    #: ``otpauth://totp/…`` with the seed: show it once (QR code), never store or log it.
    provisioning_uri: SecretStr


@dataclass(frozen=True, slots=True)
class Verification:
    principal: str
    #: The accepted time step (unix time // period).
    step: int
    #: Accepted step minus the current one: the client's clock drift in steps.
    drift: int


class TotpService:
    def __init__(
        self,
        secrets: SecretManager,
        settings: TotpSettings,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not secrets.supports_cas:
            raise ValueError(
                f"TOTP needs check-and-set writes; the {secrets.kind} backend has none"
            )
        self._secrets = secrets
        self._settings = settings
        self._clock = clock

    def enrol(self, principal: str, *, replace: bool = False) -> Enrolment:
        """Create (or with ``replace``, renew) the principal's seed; the URI is shown once."""
        name = self._secret_name(principal)
        settings = self._settings
        for _ in range(CAS_ATTEMPTS):
            current = self._secrets.read_versioned(name)
            if current.fields is not None and not replace:
                raise AlreadyEnrolled(principal)
            last_step = _int_field(current.fields, "last_step") if current.fields else 0
            seed = pyotp.random_base32()  # 160 bits, RFC 4226's recommended length
            fields = {
                "seed": seed,
                "digits": str(settings.digits),
                "period": str(settings.period),
                "algorithm": "SHA1",  # what authenticator apps support everywhere
                # Kept across a re-enrolment: steps only move forward.
                "last_step": str(last_step),
                "enrolled_at": str(int(self._clock())),
            }
            try:
                self._secrets.write_cas(name, fields, current.version)
            except SecretConflict:
                continue  # enrolled meanwhile by someone else: re-read decides
            uri = pyotp.TOTP(
                seed, digits=settings.digits, interval=settings.period, issuer=settings.issuer
            ).provisioning_uri(name=principal, issuer_name=settings.issuer)
            return Enrolment(principal, SecretStr(uri))
        raise TotpError(f"TOTP enrolment of {principal!r} kept conflicting; try again")

    def is_enrolled(self, principal: str) -> bool:
        return self._secrets.read_versioned(self._secret_name(principal)).fields is not None

    def verify(self, principal: str, code: str) -> Verification:
        """Accept ``code`` once, or raise UnknownPrincipal, InvalidCode or ReplayedCode."""
        name = self._secret_name(principal)
        code = code.strip()
        for _ in range(CAS_ATTEMPTS):
            record = self._secrets.read_versioned(name)
            if record.fields is None:
                raise UnknownPrincipal(principal)
            digits = _int_field(record.fields, "digits")
            period = _int_field(record.fields, "period")
            if len(code) != digits or not code.isdigit():
                raise InvalidCode(principal, f"is not {digits} digits")
            otp = pyotp.TOTP(
                record.fields["seed"].get_secret_value(), digits=digits, interval=period
            )
            now_step = int(self._clock()) // period
            window = self._settings.valid_window
            # Compare every step of the window, in constant time per comparison.
            matches = [
                step
                for step in range(max(0, now_step - window), now_step + window + 1)
                if hmac.compare_digest(otp.generate_otp(step), code)
            ]
            if not matches:
                raise InvalidCode(principal)
            step = max(matches)
            if step <= _int_field(record.fields, "last_step"):
                raise ReplayedCode(principal)
            fields = {**record.fields, "last_step": SecretStr(str(step))}
            try:
                self._secrets.write_cas(name, fields, record.version)
            except SecretConflict:
                continue  # another verification won the race: re-read and judge again
            return Verification(principal, step, step - now_step)
        raise TotpError(f"TOTP verification for {principal!r} kept conflicting; try again")

    @staticmethod
    def _secret_name(principal: str) -> str:
        if not PRINCIPAL.fullmatch(principal):
            raise ValueError(f"invalid TOTP principal {principal!r}")
        return RECORD_PREFIX + principal


def _int_field(fields: dict[str, SecretStr], key: str) -> int:
    try:
        return int(fields[key].get_secret_value())
    except (KeyError, ValueError):
        raise TotpError(f"TOTP record field {key!r} is missing or not a number") from None
