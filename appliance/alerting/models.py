"""The values the alerting modules share: the evaluation side produces ``Alert`` states, the
dispatcher consumes them. Nothing here does I/O."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from appliance.notifications.models import Severity

#: The seed's levels (``AlertLevel.CRITICAL``): the notification severities themselves, so an
#: alert's level is a notification's severity with no mapping between them.
AlertLevel = Severity


class AlertStatus(StrEnum):
    """One alert's state, as Grafana names them: a rule with no data yet is ``nodata``."""

    INACTIVE = "inactive"
    PENDING = "pending"
    FIRING = "firing"
    RESOLVED = "resolved"
    NODATA = "nodata"


def fingerprint(labels: Mapping[str, str]) -> str:
    """An alert's identity: a stable hash of its labels (order does not matter)."""
    canonical = json.dumps(dict(sorted(labels.items())), separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert instance as the dispatcher receives it (on every transition to firing or
    resolved, and again on each evaluation while firing). ``labels`` include at least
    ``alertname``, ``severity`` and, when known, ``service``, ``host``, ``pool``, ``dataset``.
    ``annotations`` carry ``summary``, ``description``, ``runbook`` and enrichment (context,
    stack trace). Times are Unix seconds; ``ends_at`` is set once resolved."""

    labels: dict[str, str]
    status: AlertStatus
    severity: AlertLevel
    starts_at: float
    annotations: dict[str, str] = field(default_factory=dict)
    ends_at: float | None = None
    rule_id: str | None = None
    value: float | None = None
    #: Explicit receivers (a rule's channel override, or ``send_alert(channels=...)``): when
    #: set, the route tree is bypassed for receivers but silences and inhibition still apply.
    channels: tuple[str, ...] | None = None
    context: dict[str, Any] = field(default_factory=dict)

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.labels)

    @property
    def name(self) -> str:
        return self.labels.get("alertname", "")


class AlertSink(Protocol):
    """Where evaluated alerts go: the dispatcher (``appliance/alerting/dispatch``). ``submit``
    is durable when it returns (written to the database); routing, grouping, inhibition,
    silences and escalation happen behind it."""

    def submit(self, alert: Alert) -> None: ...
