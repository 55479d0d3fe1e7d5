"""Bodies of /api/alerts: rules (the issue's fields), their alerts, and the history."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from appliance.alerting.models import AlertLevel, AlertStatus
from appliance.alerting.rules import Condition, RuleSpec, RuleUpdate

RULE_ID = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$"


class RuleIn(RuleSpec):
    """A new rule. The seed's example is enough: ``{"name", "description", "severity",
    "service", "threshold"}`` means ``cpu_percent`` of that service ``>`` the threshold."""


class RuleChange(RuleUpdate):
    """PUT: the fields given replace the rule's (``{"threshold": 80}``, ``{"enabled": false}``);
    the rule that results is checked whole."""


class AlertOut(BaseModel):
    """One alert of a rule (one series): its state now."""

    fingerprint: str
    labels: dict[str, str]
    status: AlertStatus
    severity: AlertLevel
    value: float | None = Field(description="The metric's value at the last evaluation.")
    pending_since: float | None
    firing_since: float | None
    resolved_at: float | None
    evaluated_at: float


class RuleOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    id: str
    name: str
    description: str
    severity: AlertLevel
    service: str | None
    metric: str
    condition: Condition
    threshold: float
    for_s: float = Field(alias="for", description="The for-duration, in seconds.")
    hysteresis: float
    labels: dict[str, str]
    annotations: dict[str, str]
    enabled: bool
    channels: list[str] | None
    builtin: bool = Field(description="Shipped with the appliance: change or disable it.")
    created_by: str
    created_at: float
    updated_at: float
    state: AlertStatus = Field(
        description="The most pressing of its alerts': firing, pending, nodata (its metric has "
        "reported no data yet), resolved, or inactive."
    )
    alerts: list[AlertOut]


class RulesOut(BaseModel):
    rules: list[RuleOut]


class HistoryEntryOut(BaseModel):
    id: int
    ts: float
    rule_id: str | None = Field(description="None for alerts raised with send_alert.")
    fingerprint: str
    alertname: str
    status: AlertStatus
    previous: AlertStatus
    severity: AlertLevel
    value: float | None
    labels: dict[str, str]
    annotations: dict[str, str]


class HistoryOut(BaseModel):
    entries: list[HistoryEntryOut]
    next_cursor: int | None = Field(description="Pass as cursor for the next (older) page.")
