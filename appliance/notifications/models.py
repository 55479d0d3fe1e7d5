"""Values the notification modules share, and the rules they agree on."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return list(Severity).index(self)


class Status(StrEnum):
    #: Waiting for its next attempt (``next_attempt_at``).
    PENDING = "pending"
    #: Waiting for a user's quiet hours to end (then delivered like a pending one).
    HELD = "held"
    DELIVERED = "delivered"
    #: Failed for longer than ``dead_after_s``; no more attempts.
    DEAD = "dead"


#: Channel kinds, each an Apprise service (appliance/notifications/channels.py).
KINDS = ("email", "slack", "teams", "pagerduty", "twilio", "webhook", "ntfy", "gotify", "matrix")


@dataclass(frozen=True, slots=True)
class Channel:
    """A configured channel: ``options`` are not secret; ``secret`` names the SecretManager
    entry with the credentials (fields per kind: see channels.CREDENTIALS). ``declared``: the
    inventory made it (declared.py); the API may not change or delete it."""

    name: str
    kind: str
    options: dict[str, Any] = field(default_factory=dict)
    secret: str | None = None
    enabled: bool = True
    created_at: float = 0.0
    updated_at: float = 0.0
    declared: bool = False


@dataclass(frozen=True, slots=True)
class NotifyRequest:
    user_id: str
    subject: str
    message: str
    type: str = "info"
    channel: str | None = None
    to: str | None = None
    severity: Severity = Severity.INFO
    template: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Attempt:
    ts: float
    channel: str
    outcome: str
    error: str | None
    duration_ms: float


@dataclass(frozen=True, slots=True)
class Notification:
    id: int
    user_id: str
    type: str
    channel: str
    recipient: str | None
    severity: Severity
    subject: str
    message: str
    status: Status
    created_at: float
    next_attempt_at: float
    attempt_count: int
    delivered_at: float | None
    last_error: str | None
    created_by: str
    template: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    attempts: tuple[Attempt, ...] = ()


def backoff_s(attempt: int, base_s: float, max_s: float, rng: random.Random | None = None) -> float:
    """Delay before retry ``attempt`` (1, 2, …): exponential, capped, with jitter (uniform in
    its upper half, so retries of one outage spread out but never come back early)."""
    ceiling = min(max_s, base_s * 2 ** min(attempt - 1, 62))
    return (rng or random).uniform(ceiling / 2, ceiling)
