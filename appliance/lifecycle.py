"""Agent lifecycle: Starting -> Ready -> Draining -> Stopped.

Draining starts on SIGTERM: the agent reports not-ready so a balancer stops sending traffic,
finishes the requests in flight, then stops.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from enum import StrEnum


class LifecycleState(StrEnum):
    STARTING = "starting"
    READY = "ready"
    DRAINING = "draining"
    STOPPED = "stopped"


_ALLOWED = {
    LifecycleState.STARTING: {
        LifecycleState.READY,
        LifecycleState.DRAINING,
        LifecycleState.STOPPED,
    },
    LifecycleState.READY: {LifecycleState.DRAINING, LifecycleState.STOPPED},
    LifecycleState.DRAINING: {LifecycleState.STOPPED},
    LifecycleState.STOPPED: set(),
}


class InvalidTransition(RuntimeError):
    pass


class Lifecycle:
    """State plus the count of requests in flight (updated by the HTTP middleware)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self.state = LifecycleState.STARTING
        self.changed_at = clock()
        self.started_at = self.changed_at
        self.in_flight = 0

    def transition(self, new: LifecycleState) -> None:
        if new == self.state:
            return
        if new not in _ALLOWED[self.state]:
            raise InvalidTransition(f"{self.state} -> {new}")
        self.state = new
        self.changed_at = self._clock()

    @property
    def ready(self) -> bool:
        return self.state is LifecycleState.READY

    def request_started(self) -> None:
        self.in_flight += 1

    def request_finished(self) -> None:
        self.in_flight -= 1
