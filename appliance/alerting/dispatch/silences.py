"""Silences: matchers, a start and an end, who made it and why. While active, a matching
alert is not sent (its group notifies without it); when it expires, the alert is released
and notified like a new one. Pure: no I/O (the rows live in ``store``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from appliance.alerting.dispatch.routing import matches_all, parse_matchers


class SilenceState(StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    EXPIRED = "expired"


@dataclass(frozen=True, slots=True)
class Silence:
    id: str
    matchers: tuple[str, ...]
    starts_at: float
    ends_at: float
    created_by: str
    comment: str
    created_at: float
    updated_at: float

    def state(self, now: float) -> SilenceState:
        if now >= self.ends_at:
            return SilenceState.EXPIRED
        return SilenceState.ACTIVE if now >= self.starts_at else SilenceState.PENDING

    def matches(self, labels: Mapping[str, str]) -> bool:
        return matches_all(parse_matchers(self.matchers), labels)


def silenced_by(labels: Mapping[str, str], silences: Sequence[Silence], now: float) -> list[str]:
    """The ids of the active silences that match ``labels``."""
    return [s.id for s in silences if s.state(now) is SilenceState.ACTIVE and s.matches(labels)]


def is_silenced(labels: Mapping[str, str], silences: Sequence[Silence], now: float) -> bool:
    return bool(silenced_by(labels, silences, now))
