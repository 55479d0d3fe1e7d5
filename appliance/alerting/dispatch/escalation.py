"""Escalation policies: an alert that matches a policy and is still firing, unacknowledged
and not muted N minutes after it arrived goes to the next step's receivers. Pure: no I/O."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, field_validator

from appliance.alerting.dispatch.routing import check_matchers, matches_all, parse_matchers


class EscalationStep(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    after_minutes: float = Field(gt=0, le=7 * 24 * 60, description="Since the alert arrived.")
    receivers: list[str] = Field(
        min_length=1, max_length=50, description="Channel names, kinds, or `all`."
    )


class EscalationPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
    matchers: list[str] = Field(
        default_factory=lambda: ["severity=critical"],
        max_length=50,
        description="Which alerts the policy covers.",
    )
    steps: list[EscalationStep] = Field(min_length=1, max_length=20)

    @field_validator("matchers")
    @classmethod
    def _matchers(cls, value: list[str]) -> list[str]:
        return check_matchers(value)

    @field_validator("steps")
    @classmethod
    def _ascending(cls, value: list[EscalationStep]) -> list[EscalationStep]:
        times = [s.after_minutes for s in value]
        if times != sorted(times) or len(set(times)) != len(times):
            raise ValueError("steps must come in increasing after_minutes")
        return value


@dataclass(frozen=True, slots=True)
class Escalate:
    policy: str
    #: 1-based: the step reached (the stored step becomes this).
    step: int
    receivers: tuple[str, ...]


def escalation(
    labels: Mapping[str, str],
    *,
    received_at: float,
    steps_done: int,
    firing: bool,
    acked: bool,
    suppressed: bool,
    policies: Sequence[EscalationPolicy],
    now: float,
) -> Escalate | None:
    """The step to escalate to now, or None. After a long outage several steps may be due:
    only the last of them is sent (the earlier receivers are past their turn)."""
    if not firing or acked or suppressed:
        return None
    for policy in policies:
        if not matches_all(parse_matchers(policy.matchers), labels):
            continue
        due = [
            i + 1
            for i, step in enumerate(policy.steps)
            if now >= received_at + step.after_minutes * 60
        ]
        if due and due[-1] > steps_done:
            step = due[-1]
            return Escalate(policy.name, step, tuple(policy.steps[step - 1].receivers))
        return None
    return None
