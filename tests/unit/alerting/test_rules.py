"""The rule model, pure: defaults, durations, labels the evaluator owns, hysteresis, and the
conditions with hysteresis on either side."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from appliance.alerting.rules import RuleFields, RuleSpec, RuleUpdate, still_breaches


def spec(**fields: Any) -> RuleSpec:
    return RuleSpec.model_validate({"name": "r", "threshold": 90, **fields})


def test_the_seed_body_means_cpu_over_the_threshold() -> None:
    rule = spec(service="data-processing")
    assert (rule.metric, rule.condition, rule.for_s, rule.enabled) == ("cpu_percent", ">", 0, True)


@pytest.mark.parametrize(
    ("given", "seconds"),
    [(0, 0.0), (90, 90.0), ("90", 90.0), ("5m", 300.0), ("1.5h", 5400.0), ("250ms", 0.25)],
)
def test_for_takes_seconds_or_a_duration(given: object, seconds: float) -> None:
    assert spec(**{"for": given}).for_s == seconds


@pytest.mark.parametrize(
    ("fields", "where"),
    [
        ({"for": "5 minutes"}, "for"),
        ({"for": -1}, "for"),
        ({"for": "8d"}, "for"),  # beyond a week
        ({"threshold": float("nan")}, "threshold"),
        ({"labels": {"severity": "low"}}, "labels"),
        ({"labels": {"bad-name": "x"}}, "labels"),
        ({"channels": ["ops team"]}, "channels"),
        ({"service": "../etc"}, "service"),
    ],
)
def test_invalid_fields_are_named(fields: dict[str, Any], where: str) -> None:
    with pytest.raises(ValidationError) as caught:
        spec(**fields)
    assert caught.value.errors()[0]["loc"][0] == where


def test_hysteresis_needs_an_ordering_condition() -> None:
    with pytest.raises(ValidationError, match="hysteresis needs an ordering condition"):
        spec(condition="==", hysteresis=1)


def test_an_update_merges_only_the_fields_given() -> None:
    rule = spec(severity="critical", labels={"team": "storage"})
    merged = RuleFields.model_validate(RuleUpdate(threshold=50).apply(rule))
    assert (merged.threshold, merged.severity, merged.labels) == (50, "critical", rule.labels)


@pytest.mark.parametrize(
    ("condition", "value", "firing"),
    [(">", 89.5, True), (">", 88.9, False), ("<", 10.5, True), ("<", 11.1, False),
     (">=", 89.0, True), ("<=", 11.0, True)],
)  # fmt: skip
def test_hysteresis_moves_the_threshold_back(condition: str, value: float, firing: bool) -> None:
    threshold = 90.0 if condition.startswith(">") else 10.0
    assert still_breaches(condition, value, threshold, 1.0) is firing
