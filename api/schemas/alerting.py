"""Bodies of /api/silences, /api/alerts/{id}/ack and /api/alerting (the dispatcher's side of
alerting). Matchers are ``label=value``, ``!=``, ``=~`` or ``!~`` (regular expressions match
the whole value)."""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from appliance.alerting.dispatch.routing import check_matchers
from appliance.alerting.dispatch.settings import RoutingSettings
from appliance.alerting.dispatch.silences import SilenceState
from appliance.alerting.models import AlertLevel, AlertStatus

MATCHER = r"^\s*[A-Za-z_][A-Za-z0-9_]*\s*(=~|!~|!=|=).{0,500}$"
SILENCE_ID = r"^[a-f0-9]{32}$"
ALERT_ID = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"
#: Unix seconds up to the year 5138: far enough, and a float JSON can carry exactly.
LATEST = 1e11
Matcher = Annotated[str, StringConstraints(pattern=MATCHER, max_length=600)]


class SilenceIn(BaseModel):
    """Give ``ends_at`` or ``duration_s``; ``starts_at`` defaults to now."""

    model_config = ConfigDict(extra="forbid", strict=True)

    matchers: list[Matcher] = Field(
        min_length=1,
        max_length=50,
        description="All must match an alert's labels, e.g. `alertname=PoolScrub`, `pool=~tank.*`.",
    )
    starts_at: float | None = Field(default=None, ge=0, le=LATEST, description="Unix time.")
    ends_at: float | None = Field(default=None, ge=0, le=LATEST, description="Unix time.")
    duration_s: float | None = Field(
        default=None, gt=0, le=366 * 86_400, description="Instead of ends_at: from starts_at."
    )
    comment: str = Field(min_length=1, max_length=1000, description="Why (shown to others).")

    @field_validator("matchers")
    @classmethod
    def _matchers(cls, value: list[str]) -> list[str]:
        return check_matchers(value)

    @model_validator(mode="after")
    def _one_end(self) -> Self:
        if (self.ends_at is None) == (self.duration_s is None):
            raise ValueError("give exactly one of ends_at and duration_s")
        return self


class SilenceOut(BaseModel):
    id: str
    matchers: list[str]
    starts_at: float
    ends_at: float
    created_by: str
    comment: str
    created_at: float
    updated_at: float
    state: SilenceState


class SilencesOut(BaseModel):
    silences: list[SilenceOut]


class AckOut(BaseModel):
    acknowledged: list[str] = Field(description="Fingerprints of the alerts acknowledged.")
    by: str


class ActiveAlertOut(BaseModel):
    fingerprint: str
    labels: dict[str, str]
    annotations: dict[str, str]
    status: AlertStatus
    severity: AlertLevel
    starts_at: float
    ends_at: float | None
    received_at: float = Field(description="When the dispatcher first heard of this firing.")
    rule_id: str | None
    silenced_by: list[str] = Field(description="Ids of the active silences that match it.")
    inhibited: bool
    acked_by: str | None
    acked_at: float | None
    escalation_step: int
    receivers: list[str] = Field(description="The channels its notifications go to.")


class ActiveOut(BaseModel):
    alerts: list[ActiveAlertOut]


class RoutingOut(BaseModel):
    source: Literal["config", "api"] = Field(
        description="`config`: the agent's configuration (routing as code); `api`: set by PUT."
    )
    routing: RoutingSettings
