"""API tokens: created with 256 bits from the OS's CSPRNG, shown once, kept only as a hash.

A token reads ``sva_`` + 43 URL-safe characters (32 random bytes). The database keeps its
SHA-256, looked up by equality (a unique index).

Why SHA-256 and not bcrypt or argon2: those are slow on purpose, to make guessing a
*low-entropy* password from its stolen hash expensive. A 256-bit random token cannot be
guessed from its hash however fast the hash is (2^256 tries), so a slow hash would buy nothing
and would cost 50-100 ms of CPU per request (the issue asks ≤ 0.5 ms for the whole check), and
a salted hash could not be looked up by value. The hash is unsalted for the same reason; a
stolen table reveals names and roles, not usable tokens.

Verification is cheap: hash the presented token, look the hash up in a short in-memory cache
(``token_cache_ttl_s``) and only on a miss in the database. A revocation through this service
empties the cache entry at once; one made by another process (the host CLI) is seen when the
entry expires. ``last_used_at`` is written at most every ``last_used_interval_s`` per token.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from sqlalchemy import Connection, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from appliance.database.repository import Store
from appliance.database.schema import api_tokens
from appliance.errors import ApplianceError, NotFoundError
from appliance.security.roles import Role

log = logging.getLogger(__name__)

PREFIX = "sva_"
TOKEN_BYTES = 32
#: What a presented token must look like before it is even hashed.
TOKEN_SHAPE = re.compile(r"sva_[A-Za-z0-9_-]{43}")
#: Token names: also TOTP principals (appliance/totp.py), so the same character set.
NAME = re.compile(r"[A-Za-z0-9_@-][A-Za-z0-9_.@-]{0,63}")
ID_SHAPE = re.compile(r"t_[0-9a-f]{12}")


class TokenError(ApplianceError):
    """Base of token errors; messages name tokens by name or id, never by value."""


class TokenNotFound(TokenError, NotFoundError):
    def __init__(self, ref: str) -> None:
        super().__init__(f"no active token named or with id {ref!r}")


class TokenNameTaken(TokenError):
    def __init__(self, name: str) -> None:
        super().__init__(f"an active token is already named {name!r}: revoke it first")


class InvalidToken(TokenError):
    """The presented credential is not an active token. ``reason`` is safe to show."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """A token's record, without its secret."""

    id: str
    name: str
    role: Role
    created_at: float
    created_by: str
    last_used_at: float | None
    expires_at: float | None
    revoked_at: float | None

    def state(self, now: float) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"


@dataclass(frozen=True, slots=True)
class NewToken:
    info: TokenInfo
    #: The token itself: print it once, never store or log it.
    secret: str

    def __repr__(self) -> str:
        return f"NewToken({self.info!r}, secret=***)"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def check_name(name: str) -> str:
    if not NAME.fullmatch(name):
        raise ValueError(
            f"invalid token name {name!r}: 1-64 of letters, digits and _ - . @, "
            "not starting with a dot"
        )
    return name


def _info(row: object) -> TokenInfo:
    m = row._mapping  # type: ignore[attr-defined]
    return TokenInfo(
        id=m["id"],
        name=m["name"],
        role=Role(m["role"]),
        created_at=float(m["created_at"]),
        created_by=m["created_by"],
        last_used_at=None if m["last_used_at"] is None else float(m["last_used_at"]),
        expires_at=None if m["expires_at"] is None else float(m["expires_at"]),
        revoked_at=None if m["revoked_at"] is None else float(m["revoked_at"]),
    )


@dataclass(slots=True)
class _Cached:
    info: TokenInfo
    fetched_at: float
    last_used_written: float


class TokenService:
    def __init__(
        self,
        store: Store,
        *,
        cache_ttl_s: float = 10.0,
        last_used_interval_s: float = 60.0,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._ttl = cache_ttl_s
        self._last_used_interval = last_used_interval_s
        self._clock = clock
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._cache: dict[str, _Cached] = {}

    # -- management (CLI, admin API) --

    def create(
        self,
        name: str,
        role: Role,
        *,
        created_by: str,
        expires_in_s: float | None = None,
    ) -> NewToken:
        check_name(name)
        if expires_in_s is not None and expires_in_s <= 0:
            raise ValueError("expiry must be in the future")
        secret = PREFIX + secrets.token_urlsafe(TOKEN_BYTES)
        now = self._clock()
        info = TokenInfo(
            id="t_" + secrets.token_hex(6),
            name=name,
            role=role,
            created_at=now,
            created_by=created_by,
            last_used_at=None,
            expires_at=None if expires_in_s is None else now + expires_in_s,
            revoked_at=None,
        )
        values = {
            "id": info.id,
            "name": name,
            "role": role.value,
            "token_hash": hash_token(secret),
            "created_at": now,
            "created_by": created_by,
            "expires_at": info.expires_at,
        }
        try:
            self._store.run(lambda c: c.execute(insert(api_tokens).values(**values)))
        except Exception as exc:
            if isinstance(exc.__cause__, IntegrityError):
                raise TokenNameTaken(name) from None
            raise
        log.info("token %s (%s, role %s) created by %s", info.id, name, role.value, created_by)
        return NewToken(info, secret)

    def list(self, *, include_revoked: bool = False) -> list[TokenInfo]:
        query = select(api_tokens).order_by(api_tokens.c.created_at, api_tokens.c.id)
        if not include_revoked:
            query = query.where(api_tokens.c.revoked_at.is_(None))
        return [_info(row) for row in self._store.run(lambda c: c.execute(query).all())]

    def get(self, ref: str) -> TokenInfo:
        """An active token by id or name."""
        found = self._store.run(lambda c: self._find_active(c, ref))
        if found is None:
            raise TokenNotFound(ref)
        return found

    def revoke(self, ref: str) -> TokenInfo:
        """Revoke the active token with this id or name; it fails from now on."""

        def work(c: Connection) -> TokenInfo | None:
            found = self._find_active(c, ref)
            if found is None:
                return None
            now = self._clock()
            c.execute(update(api_tokens).where(api_tokens.c.id == found.id).values(revoked_at=now))
            return replace(found, revoked_at=now)

        revoked = self._store.run(work)
        if revoked is None:
            raise TokenNotFound(ref)
        with self._lock:
            for key in [k for k, v in self._cache.items() if v.info.id == revoked.id]:
                del self._cache[key]
        log.info("token %s (%s) revoked", revoked.id, revoked.name)
        return revoked

    @staticmethod
    def _find_active(c: Connection, ref: str) -> TokenInfo | None:
        query = select(api_tokens).where(
            api_tokens.c.revoked_at.is_(None),
            or_(api_tokens.c.id == ref, api_tokens.c.name == ref),
        )
        row = c.execute(query).first()
        return None if row is None else _info(row)

    # -- the request path --

    def cached(self, token: str) -> tuple[TokenInfo, bool] | None:
        """The verdict without I/O, when the cache has one: (token, last_used is due)."""
        if not TOKEN_SHAPE.fullmatch(token):
            raise InvalidToken("malformed token")
        key = hash_token(token)
        now = self._monotonic()
        with self._lock:
            entry = self._cache.get(key)
            if entry is None or now - entry.fetched_at >= self._ttl:
                return None
            info = entry.info
            due = now - entry.last_used_written >= self._last_used_interval
            if due:
                entry.last_used_written = now
        self._check_live(info)
        return info, due

    def verify(self, token: str) -> TokenInfo:
        """The active token ``token`` is, or InvalidToken; reads the database on a cache miss
        and writes last_used_at when due (blocking: call from a thread in async code)."""
        hit = self.cached(token)
        if hit is not None:
            info, due = hit
            if due:
                self.touch(info.id)
            return info
        key = hash_token(token)
        row = self._store.run(
            lambda c: c.execute(select(api_tokens).where(api_tokens.c.token_hash == key)).first()
        )
        if row is None:
            raise InvalidToken("unknown token")
        info = _info(row)
        if info.revoked_at is not None:
            raise InvalidToken("token revoked")
        self._check_live(info)
        now = self._monotonic()
        with self._lock:
            self._cache[key] = _Cached(info, now, now)
            if len(self._cache) > 10_000:  # bounded: only valid tokens get here
                self._cache.pop(next(iter(self._cache)))
        self.touch(info.id)
        return info

    def touch(self, token_id: str) -> None:
        """Record a use now (best effort: a failed write never fails the request)."""
        now = self._clock()
        statement = update(api_tokens).where(api_tokens.c.id == token_id).values(last_used_at=now)
        try:
            self._store.run(lambda c: c.execute(statement))
        except Exception as exc:
            log.warning("could not record the use of token %s: %s", token_id, exc)

    def _check_live(self, info: TokenInfo) -> None:
        if info.expires_at is not None and info.expires_at <= self._clock():
            raise InvalidToken("token expired")

    def forget_cache(self) -> None:
        with self._lock:
            self._cache.clear()
