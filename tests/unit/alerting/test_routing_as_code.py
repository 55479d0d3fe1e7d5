"""Routing as code: `agent.alerting` in the host spec (typed, the agent's own model) is
rendered into agent.toml as [alerting.routing] and read back by the agent's settings."""

from __future__ import annotations

import re
import tomllib
from typing import Any

import pytest

from appliance.alerting.dispatch.routing import Timers, match, resolve_receivers
from appliance.config import validate_config
from roles.agent.config import config_text
from roles.settings import RoleSettingsError
from roles.spec import parse_host_spec

DISKS = {"storage": {"disks": [f"/dev/disk/by-id/d{n}" for n in range(6)]}}
ROUTING: dict[str, Any] = {
    "route": {
        "receivers": ["team-slack"],
        "group_by": ["alertname", "pool"],
        "routes": [
            {"matchers": ["severity=critical"], "receivers": ["pagerduty"], "continue": True},
            {"matchers": ["service=zfs", "pool=~tank.*"], "receivers": ["storage-mail"],
             "repeat_interval_s": 600},
        ],
    },
    "inhibit_rules": [
        {"source_matchers": ["alertname=PoolState", "state=FAULTED"],
         "target_matchers": ["alertname=DatasetQuota"], "equal": ["pool"]}
    ],
    "escalation_policies": [
        {"name": "oncall", "steps": [{"after_minutes": 15, "receivers": ["twilio"]}]}
    ],
    "group_wait_s": 10,
}  # fmt: skip


def host(**agent: Any) -> dict[str, Any]:
    return {**DISKS, "ssh_hostname": "10.0.0.5", "agent": agent}


def test_the_spec_routing_is_rendered_and_read_back_by_the_agent() -> None:
    spec = parse_host_spec("h", host(alerting=ROUTING))
    rendered = tomllib.loads(config_text(spec))
    assert rendered["alerting"]["routing"]["route"]["routes"][0]["continue"] is True
    settings = validate_config(rendered)
    assert settings.alerting.routing == spec.agent.alerting
    routing = settings.alerting.routing
    labels = {"severity": "critical", "service": "zfs", "pool": "tank2"}
    routes = match(routing.route, labels, routing.timers)
    assert [r.receivers for r in routes] == [("pagerduty",), ("storage-mail",)]
    assert routes[1].timers == Timers(10.0, 300.0, 600.0)
    channels = [("pd", "pagerduty", True), ("storage-mail", "email", True)]
    assert resolve_receivers(routes[0].receivers, channels) == ["pd"]


def test_without_it_the_agent_keeps_the_seeds_severity_routing() -> None:
    rendered = tomllib.loads(config_text(parse_host_spec("h", host())))
    assert "routing" not in rendered.get("alerting", {})
    route = validate_config(rendered).alerting.routing.route
    assert route.routes[0].matchers == ["severity=critical"]


BAD = [
    ({"route": {"routes": [{"matchers": ["pool=~("]}]}}, "route.routes.0.matchers"),
    ({"group_wait_s": -1}, "group_wait_s"),
    (
        {"inhibit_rules": [{"source_matchers": ["a=b"], "target_matchers": []}]},
        "inhibit_rules.0.target_matchers",
    ),
    ({"escalation_policies": [{"name": "p", "steps": []}]}, "escalation_policies.0.steps"),
]


@pytest.mark.parametrize(("routing", "field"), BAD)
def test_bad_routing_fails_the_spec_naming_the_field(routing: dict[str, Any], field: str) -> None:
    with pytest.raises(RoleSettingsError, match=re.escape(f"agent.alerting.{field}")):
        parse_host_spec("h", host(alerting=routing))


def test_routing_goes_in_agent_alerting_not_in_free_config() -> None:
    with pytest.raises(RoleSettingsError, match=r"agent\.alerting"):
        parse_host_spec("h", host(config={"alerting": {"routing": {}}}))
