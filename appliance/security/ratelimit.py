"""Token buckets per key (a token's id, a client address) and the failed-authentication guard.

A bucket holds up to ``burst`` requests and refills at ``rate`` per second; a request takes
one or is refused with the seconds until one is back (``Retry-After``). Tables are bounded:
beyond ``max_keys`` the idlest buckets are dropped (a dropped bucket is a full one, so the
only effect is forgiving the idlest client).

The guard counts failed authentications (a bad, expired or revoked token, a bad TOTP code)
per address: they draw from a small bucket of their own (the stricter limit: once it is spent,
the address's credentials are not even looked at until it refills), and ``lockout_after`` of
them in a row lock the address out for ``lockout_s``. A success resets the row count.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class BucketTable:
    def __init__(
        self,
        rate: float,
        burst: int,
        max_keys: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = rate
        self.burst = burst
        self._max = max_keys
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def take(self, key: str) -> float:
        """0.0 when the request may go, else the seconds to wait before retrying."""
        now = self._clock()
        with self._lock:
            bucket = self._refilled(key, now)
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return 0.0
            return (1.0 - bucket.tokens) / self.rate

    def wait_s(self, key: str) -> float:
        """Seconds until ``key`` has a token again, without taking one."""
        now = self._clock()
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                return 0.0
            tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
            return 0.0 if tokens >= 1.0 else (1.0 - tokens) / self.rate

    def _refilled(self, key: str, now: float) -> _Bucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(float(self.burst), now)
            if len(self._buckets) > self._max:
                self._buckets.popitem(last=False)
        else:
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
            bucket.updated = now
            self._buckets.move_to_end(key)
        return bucket

    def __len__(self) -> int:
        return len(self._buckets)


def retry_after(wait_s: float) -> int:
    """Whole seconds for a Retry-After header, at least 1."""
    return max(1, math.ceil(wait_s))


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why credentials from an address are not looked at, and for how long."""

    code: str  # "locked_out" | "too_many_failures"
    reason: str
    wait_s: float


class FailureGuard:
    def __init__(
        self,
        rate: float,
        burst: int,
        lockout_after: int,
        lockout_s: float,
        max_keys: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._bucket = BucketTable(rate, burst, max_keys, clock)
        self._lockout_after = lockout_after
        self._lockout_s = lockout_s
        self._max = max_keys
        self._clock = clock
        self._lock = threading.Lock()
        self._in_a_row: OrderedDict[str, int] = OrderedDict()
        self._locked_until: dict[str, float] = {}

    def refusal(self, key: str) -> Refusal | None:
        """Whether ``key``'s credentials must be refused unseen right now."""
        now = self._clock()
        with self._lock:
            until = self._locked_until.get(key)
            if until is not None:
                if now < until:
                    return Refusal(
                        "locked_out",
                        f"{self._lockout_after} failed authentications in a row: this address "
                        f"is locked out for {self._lockout_s:g} s",
                        until - now,
                    )
                del self._locked_until[key]
        wait = self._bucket.wait_s(key)
        if wait > 0:
            return Refusal(
                "too_many_failures",
                "too many failed authentications from this address: slow down",
                wait,
            )
        return None

    def failed(self, key: str) -> bool:
        """Count a failure; True when it locks ``key`` out (just now)."""
        self._bucket.take(key)
        with self._lock:
            count = self._in_a_row.pop(key, 0) + 1
            if count >= self._lockout_after:
                now = self._clock()
                if len(self._locked_until) >= self._max:  # bounded: forget lapsed lock-outs
                    for lapsed in [k for k, t in self._locked_until.items() if t <= now]:
                        del self._locked_until[lapsed]
                self._locked_until[key] = now + self._lockout_s
                return True
            self._in_a_row[key] = count
            if len(self._in_a_row) > self._max:
                self._in_a_row.popitem(last=False)
            return False

    def succeeded(self, key: str) -> None:
        if self._in_a_row:
            with self._lock:
                self._in_a_row.pop(key, None)

    def failures_in_a_row(self, key: str) -> int:
        with self._lock:
            return self._in_a_row.get(key, 0)

    def locked(self) -> dict[str, float]:
        """Addresses locked out now, with the seconds left."""
        now = self._clock()
        with self._lock:
            return {k: until - now for k, until in self._locked_until.items() if until > now}
