"""Inhibition, as Alertmanager has it: a firing alert matching a rule's source matchers mutes
the alerts matching its target matchers that have the same values of the ``equal`` labels
(e.g. a FAULTED pool mutes the quota alerts of its datasets). Pure: no I/O."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pydantic import BaseModel, ConfigDict, Field, field_validator

from appliance.alerting.dispatch.routing import check_matchers, matches_all, parse_matchers


class InhibitRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    source_matchers: list[str] = Field(
        min_length=1, max_length=50, description="What the muting (firing) alert matches."
    )
    target_matchers: list[str] = Field(
        min_length=1, max_length=50, description="What the muted alerts match."
    )
    equal: list[str] = Field(
        default_factory=list,
        max_length=20,
        description="Labels source and target must have the same value of (absent = empty).",
    )

    @field_validator("source_matchers", "target_matchers")
    @classmethod
    def _matchers(cls, value: list[str]) -> list[str]:
        return check_matchers(value)


def inhibited(
    target: Mapping[str, str],
    firing: Sequence[Mapping[str, str]],
    rules: Sequence[InhibitRule],
) -> bool:
    """Whether ``target`` is muted by one of the ``firing`` alerts under ``rules``. An alert
    never mutes itself; when the target matches a rule's source side too, only sources that
    do not also match its target side count (Alertmanager's rule, so two alerts matching
    both sides cannot mute each other)."""
    for rule in rules:
        target_side = parse_matchers(rule.target_matchers)
        if not matches_all(target_side, target):
            continue
        source_side = parse_matchers(rule.source_matchers)
        two_sided = matches_all(source_side, target)
        for source in firing:
            if source == target or not matches_all(source_side, source):
                continue
            if two_sided and matches_all(target_side, source):
                continue
            if all(source.get(name, "") == target.get(name, "") for name in rule.equal):
                return True
    return False
