"""Escalation: after N minutes firing, unacknowledged and not muted, the next step."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from appliance.alerting.dispatch.escalation import (
    Escalate,
    EscalationPolicy,
    EscalationStep,
    escalation,
)

T0 = 1_000_000.0
POLICY = EscalationPolicy(
    name="oncall",
    steps=[
        EscalationStep(after_minutes=15, receivers=["pagerduty"]),
        EscalationStep(after_minutes=30, receivers=["all"]),
    ],
)
CRITICAL = {"alertname": "PoolFaulted", "severity": "critical"}


def at(
    minutes: float,
    *,
    done: int = 0,
    acked: bool = False,
    suppressed: bool = False,
    labels: dict[str, str] = CRITICAL,
    firing: bool = True,
) -> Escalate | None:
    return escalation(
        labels,
        received_at=T0,
        steps_done=done,
        firing=firing,
        acked=acked,
        suppressed=suppressed,
        policies=[POLICY],
        now=T0 + minutes * 60,
    )


def test_steps_come_after_their_minutes_each_once() -> None:
    assert at(14.9) is None
    first = at(15)
    assert first is not None and (first.step, first.receivers) == (1, ("pagerduty",))
    assert at(20, done=1) is None
    second = at(30, done=1)
    assert second is not None and (second.step, second.receivers) == (2, ("all",))
    assert at(90, done=2) is None


def test_after_a_long_gap_only_the_last_due_step_is_sent() -> None:
    late = at(45)
    assert late is not None and late.step == 2


@pytest.mark.parametrize(
    "kwargs",
    [{"acked": True}, {"suppressed": True}, {"firing": False}, {"labels": {"severity": "error"}}],
)
def test_acked_muted_resolved_or_uncovered_alerts_do_not_escalate(
    kwargs: dict[str, Any],
) -> None:
    assert at(60, **kwargs) is None


def test_steps_must_ascend() -> None:
    with pytest.raises(ValidationError, match="increasing"):
        EscalationPolicy(
            name="p",
            steps=[
                EscalationStep(after_minutes=30, receivers=["a"]),
                EscalationStep(after_minutes=15, receivers=["b"]),
            ],
        )


def test_the_default_policy_repeats_an_unanswered_critical_to_everyone() -> None:
    from appliance.alerting.dispatch.settings import RoutingSettings

    policies = RoutingSettings().escalation_policies

    def at(labels: dict[str, str], minutes: float, done: int = 0, acked: bool = False) -> Any:
        return escalation(
            labels, received_at=0.0, steps_done=done, firing=True, acked=acked,
            suppressed=False, policies=policies, now=minutes * 60,
        )  # fmt: skip

    critical = {"severity": "critical", "alertname": "PoolDegraded"}
    assert at(critical, 14) is None
    first = at(critical, 15)
    assert first is not None and (first.step, first.receivers) == (1, ("all",))
    second = at(critical, 60, done=1)
    assert second is not None and second.step == 2
    assert at(critical, 60, acked=True) is None
    assert at({**critical, "severity": "warning"}, 60) is None
    declared = RoutingSettings.model_validate({"escalation_policies": []})
    assert declared.escalation_policies == []  # a declared list replaces the default
