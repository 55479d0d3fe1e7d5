"""Backoff with jitter and a circuit breaker, for calls to a secret backend over the network."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff with "equal jitter": half the delay fixed, half random.

    The random half keeps agents that lost Vault together from retrying in lockstep; the
    fixed half keeps a retry from coming back immediately.
    """

    initial_s: float
    max_s: float

    def delay(self, attempt: int, rng: Callable[[], float] = random.random) -> float:
        """Seconds to wait before retry number ``attempt`` (0 for the first retry)."""
        cap = min(self.max_s, self.initial_s * 2.0**attempt)
        return cap / 2 + rng() * cap / 2


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """Opens after ``failures`` consecutive failed calls; fails fast for ``cooldown_s``; then
    lets one trial call through (half-open): success closes it, failure opens it again.

    Failures are only "the backend could not answer" (connection, timeout, 5xx, sealed), never
    an answer such as "not found" or "denied".
    """

    def __init__(
        self, failures: int, cooldown_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._threshold = failures
        self._cooldown = cooldown_s
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._opened_at: float | None = None
        self._trial_running = False
        self.last_failure = ""
        self.opened_count = 0

    @property
    def state(self) -> BreakerState:
        with self._lock:
            return self._state()

    def _state(self) -> BreakerState:
        if self._opened_at is None:
            return BreakerState.CLOSED
        if self._clock() - self._opened_at < self._cooldown:
            return BreakerState.OPEN
        return BreakerState.HALF_OPEN

    def allow(self) -> bool:
        """Whether a call may go out now; in half-open state only one trial at a time."""
        with self._lock:
            state = self._state()
            if state is BreakerState.CLOSED:
                return True
            if state is BreakerState.HALF_OPEN and not self._trial_running:
                self._trial_running = True
                return True
            return False

    def half_open_now(self) -> None:
        """End the cooldown early (the backend was seen healthy): the next call is the trial."""
        with self._lock:
            if self._opened_at is not None:
                self._opened_at = min(self._opened_at, self._clock() - self._cooldown)

    def retry_in_s(self) -> float:
        with self._lock:
            if self._opened_at is None:
                return 0.0
            return max(0.0, self._cooldown - (self._clock() - self._opened_at))

    def record_success(self) -> None:
        with self._lock:
            self._failures = 0
            self._opened_at = None
            self._trial_running = False

    def record_failure(self, reason: str) -> None:
        with self._lock:
            self.last_failure = reason
            self._failures += 1
            if self._trial_running or self._failures >= self._threshold:
                if self._state() is not BreakerState.OPEN:
                    self.opened_count += 1
                self._opened_at = self._clock()
            self._trial_running = False

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "breaker": self._state().value,
                "consecutive_failures": self._failures,
                "last_failure": self.last_failure,
            }
