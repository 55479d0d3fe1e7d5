"""``[alerting.routing]``: the route tree, inhibit rules, escalation policies and timers
(routing as code: rendered from the host spec, replaceable by an admin through the API; the
defaults are the seed's severity routing). ``[alerting.dispatch]``: the dispatch loop."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from appliance.alerting.dispatch.escalation import EscalationPolicy, EscalationStep
from appliance.alerting.dispatch.inhibition import InhibitRule
from appliance.alerting.dispatch.routing import Route, Timers, severity_tree


def default_inhibit_rules() -> list[InhibitRule]:
    """A pool whose data cannot be reached (the built-in PoolFaulted: FAULTED, UNAVAIL…)
    mutes the quota and capacity alerts of that pool and its datasets (same ``pool``)."""
    return [
        InhibitRule(
            source_matchers=["alertname=PoolFaulted"],
            target_matchers=["alertname=~DatasetQuota|PoolCapacity"],
            equal=["pool"],
        )
    ]


def default_escalation_policies() -> list[EscalationPolicy]:
    """A critical alert nobody acknowledged goes out again on every channel after 15 minutes
    and after an hour (the first notice may have gone to a pager nobody carried); an
    acknowledgement, a silence or the resolve stops it. Declared policies replace these."""
    return [
        EscalationPolicy(
            name="critical-unacknowledged",
            matchers=["severity=critical"],
            steps=[
                EscalationStep(after_minutes=15.0, receivers=["all"]),
                EscalationStep(after_minutes=60.0, receivers=["all"]),
            ],
        )
    ]


class RoutingSettings(BaseModel):
    """Strict (no "30" for 30, no false for 0): it comes from TOML or a JSON body, and a
    timer that is a quoted string is more likely a mistake than a wish."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    route: Route = Field(default_factory=severity_tree, description="The route tree's root.")
    inhibit_rules: list[InhibitRule] = Field(default_factory=default_inhibit_rules)
    escalation_policies: list[EscalationPolicy] = Field(
        default_factory=default_escalation_policies,
        description="Default: critical and unacknowledged after 15 and 60 minutes → all channels.",
    )
    group_wait_s: float = Field(
        default=30.0, ge=0, le=86_400, description="A new group waits this long for others."
    )
    group_interval_s: float = Field(
        default=300.0, gt=0, le=86_400, description="Changes to a group: at most this often."
    )
    repeat_interval_s: float = Field(
        default=4 * 3600.0,
        gt=0,
        le=30 * 86_400,
        description="Still firing and unchanged: sent again after this long.",
    )

    @property
    def timers(self) -> Timers:
        return Timers(self.group_wait_s, self.group_interval_s, self.repeat_interval_s)


class DispatchSettings(BaseModel):
    """How the dispatcher runs (not routing): its pace and whom notifications are for."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(default=True, description="Run the dispatch loop in the agent.")
    tick_s: float = Field(default=1.0, gt=0, le=60, description="How often due groups are sent.")
    user_id: str = Field(
        default="alerts",
        min_length=1,
        max_length=200,
        description="The notifications' user (their history; a user's address per channel).",
    )
    resolve_timeout_s: float = Field(
        default=300.0,
        gt=0,
        description="An alert of send_alert (no rule evaluates it again) not sent again for "
        "this long is resolved; a rule's alerts are resolved by evaluation only.",
    )
    database_down_after_s: float = Field(
        default=30.0,
        gt=0,
        le=86_400,
        description="The agent's database unreachable this long: AgentDatabaseDown is sent "
        "directly to the channels its routing names (the outbox is in that database).",
    )
    outage_state_file: Path | None = Field(
        default=None,
        description="Where an outage of the agent's database is kept (a small JSON file in "
        "the agent's state directory, e.g. /var/lib/sovereign/alert-outage.json), so a "
        "restart during it neither repeats AgentDatabaseDown nor forgets its resolve; unset: "
        "kept in memory only.",
    )
    resolved_retention_s: float = Field(
        default=7 * 86_400.0,
        gt=0,
        description="Resolved alerts and expired silences are kept this long.",
    )
