"""Alert rules: what the API accepts (``RuleSpec``, ``RuleUpdate``) and what is stored
(``Rule``). Pure: validation and the condition, no I/O.

A rule compares one metric with a threshold, per series the metric has (one per pool, per
service…); ``service`` narrows it to that service's series. The seed's example names only a
service and a threshold: ``metric`` defaults to ``cpu_percent`` and ``condition`` to ``>``.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable
from typing import Annotated, Any, Literal, Self

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from appliance.alerting.models import AlertLevel

Condition = Literal[">", ">=", "<", "<=", "==", "!="]

COMPARE: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}

DEFAULT_METRIC = "cpu_percent"
METRIC_PATTERN = r"^[a-z][a-z0-9_]{0,63}$"
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$"
LABEL_PATTERN = r"^[a-zA-Z_][a-zA-Z0-9_]{0,62}$"
#: Labels the evaluator sets itself; a rule may not override them.
RESERVED_LABELS = frozenset({"alertname", "severity", "rule_id"})
MAX_FOR_S = 7 * 86_400.0
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86_400.0}
DURATION_PATTERN = r"^(\d{1,9}(?:\.\d{1,9})?)(ms|s|m|h|d)?$"
_DURATION = re.compile(DURATION_PATTERN)


def parse_duration(value: Any) -> Any:
    """``300``, ``"300"``, ``"5m"``, ``"1h"`` → seconds (as Prometheus' ``for:`` reads them)."""
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match is None:
            raise ValueError("a duration is seconds or a number with ms, s, m, h or d: '5m'")
        return float(match.group(1)) * _UNITS[match.group(2) or "s"]
    return value


# Types shared by the create and update bodies; strict where JSON has the type (no "90" for a
# number, no 0 for a boolean), so what the schema calls invalid is refused.
Name = Annotated[str, Field(min_length=1, max_length=200)]
Description = Annotated[str, Field(max_length=2000)]
Service = Annotated[str, Field(pattern=NAME_PATTERN)]
Metric = Annotated[str, Field(pattern=METRIC_PATTERN)]
Threshold = Annotated[float, Field(strict=True, allow_inf_nan=False)]
Duration = Annotated[
    float,
    BeforeValidator(
        parse_duration,
        json_schema_input_type=Annotated[float, Field(ge=0, le=MAX_FOR_S)]
        | Annotated[str, Field(pattern=DURATION_PATTERN)],
    ),
    Field(strict=True, ge=0, le=MAX_FOR_S),
]
Hysteresis = Annotated[float, Field(strict=True, ge=0, allow_inf_nan=False)]
LabelName = Annotated[str, Field(pattern=LABEL_PATTERN)]
Labels = Annotated[
    dict[LabelName, Annotated[str, Field(max_length=2000)]],
    Field(max_length=32, json_schema_extra={"additionalProperties": False}),
]
Enabled = Annotated[bool, Field(strict=True)]
Channels = Annotated[list[Annotated[str, Field(pattern=NAME_PATTERN)]], Field(max_length=16)]


def _no_reserved(value: dict[str, str]) -> dict[str, str]:
    for key in value:
        if key in RESERVED_LABELS:
            raise ValueError(f"{key!r} is set by the evaluator (from name, severity and id)")
    return value


class RuleFields(BaseModel):
    """Every field a rule has, each with a default (the update's base)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: Name = Field(description="Also the alert's alertname.")
    description: Description = ""
    severity: AlertLevel = AlertLevel.WARNING
    service: Service | None = Field(
        default=None, description="Only this service's series (a health check's name, or 'host')."
    )
    metric: Metric = DEFAULT_METRIC
    condition: Condition = ">"
    threshold: Threshold
    for_s: Duration = Field(
        default=0.0,
        alias="for",
        description="How long the condition must hold before firing (seconds or '5m').",
    )
    hysteresis: Hysteresis = Field(
        default=0.0,
        description="A firing alert resolves only once the value is this far back past the "
        "threshold (no flapping at the edge).",
    )
    labels: Labels = Field(default_factory=dict)
    annotations: Labels = Field(default_factory=dict, description="summary, description, runbook…")
    enabled: Enabled = True
    channels: Channels | None = Field(
        default=None,
        description="Channel override: send to these channels instead of the route tree's.",
    )

    @field_validator("labels")
    @classmethod
    def _labels(cls, value: dict[str, str]) -> dict[str, str]:
        return _no_reserved(value)

    @model_validator(mode="after")
    def _hysteresis_needs_an_order(self) -> Self:
        if self.hysteresis and self.condition in ("==", "!="):
            raise ValueError("hysteresis needs an ordering condition (>, >=, <, <=)")
        return self


class RuleSpec(RuleFields):
    """A rule as the API creates it."""


class RuleUpdate(BaseModel):
    """PUT: only the fields given change (a built-in rule: its threshold, or enabled)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: Name | None = None
    description: Description | None = None
    severity: AlertLevel | None = None
    service: Service | None = None
    metric: Metric | None = None
    condition: Condition | None = None
    threshold: Threshold | None = None
    for_s: Duration | None = Field(default=None, alias="for")
    hysteresis: Hysteresis | None = None
    labels: Labels | None = None
    annotations: Labels | None = None
    enabled: Enabled | None = None
    channels: Channels | None = None

    def apply(self, rule: RuleFields) -> dict[str, Any]:
        """The merged fields, to validate again as a whole (so errors name the field). A null
        clears ``service`` (every series) and ``channels`` (the route tree); for any other
        field it is the same as leaving the field out."""
        merged = rule.model_dump(include=set(RuleFields.model_fields), by_alias=True)
        given = self.model_dump(exclude_unset=True, by_alias=True)
        merged.update(
            (k, v) for k, v in given.items() if v is not None or k in ("service", "channels")
        )
        return merged


class Rule(RuleFields):
    """A stored rule."""

    id: str
    builtin: bool = False
    created_by: str = "system"
    created_at: float = 0.0
    updated_at: float = 0.0


def breaches(condition: str, value: float, threshold: float) -> bool:
    return not math.isnan(value) and COMPARE[condition](value, threshold)


def still_breaches(condition: str, value: float, threshold: float, hysteresis: float) -> bool:
    """Whether a firing alert keeps firing: the threshold moves back by ``hysteresis``."""
    if condition in (">", ">="):
        threshold -= hysteresis
    elif condition in ("<", "<="):
        threshold += hysteresis
    return breaches(condition, value, threshold)
