"""The route tree: matchers, first match and ``continue``, inheritance, receivers, and the
seed's severity routing as the default."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from appliance.alerting.dispatch.routing import (
    Route,
    Timers,
    match,
    parse_matcher,
    resolve_receivers,
    severity_tree,
)

T = Timers(30.0, 300.0, 14_400.0)
CHANNELS = [
    ("slack", "slack", True),
    ("ops-mail", "email", True),
    ("pd", "pagerduty", True),
    ("sms", "twilio", True),
    ("hook", "webhook", True),
    ("old-hook", "webhook", False),
]


@pytest.mark.parametrize(
    ("text", "labels", "expected"),
    [
        ("severity=critical", {"severity": "critical"}, True),
        ("severity=critical", {"severity": "error"}, False),
        ("pool!=tank", {"pool": "tank"}, False),
        ("pool!=tank", {}, True),
        ("alertname=~Pool.*", {"alertname": "PoolDegraded"}, True),
        ("alertname=~Pool", {"alertname": "PoolDegraded"}, False),  # whole value
        ("dataset!~tank/tmp.*", {"dataset": "tank/tmp/x"}, False),
        ("dataset!~tank/tmp.*", {"dataset": "tank/home"}, True),
        ('host="a b"', {"host": "a b"}, True),
        ("service=", {}, True),  # absent is the empty value
    ],
)
def test_matchers(text: str, labels: dict[str, str], expected: bool) -> None:
    assert parse_matcher(text).matches(labels) is expected


@pytest.mark.parametrize("text", ["severity", "=x", "a=~(", "9x=1"])
def test_bad_matchers_are_refused_naming_them(text: str) -> None:
    with pytest.raises(ValueError, match="matcher"):
        parse_matcher(text)


def test_a_route_with_a_bad_matcher_fails_validation_naming_the_field() -> None:
    with pytest.raises(ValidationError) as caught:
        Route.model_validate({"routes": [{"matchers": ["a=~("]}]})
    assert caught.value.errors()[0]["loc"] == ("routes", 0, "matchers")


@pytest.mark.parametrize(
    ("severity", "channels"),
    [
        ("critical", ["hook", "ops-mail", "pd", "slack", "sms"]),
        ("error", ["ops-mail", "slack"]),
        ("warning", ["slack"]),
        ("info", ["slack"]),
    ],
)
def test_the_default_tree_routes_by_severity(severity: str, channels: list[str]) -> None:
    (route,) = match(severity_tree(), {"alertname": "X", "severity": severity}, T)
    assert resolve_receivers(route.receivers, CHANNELS) == channels


def test_first_matching_child_wins_unless_it_continues() -> None:
    tree = Route(
        receivers=["root"],
        routes=[
            Route(matchers=["team=db"], receivers=["db"]),
            Route(matchers=["team=~db|web"], receivers=["both"]),
        ],
    )
    assert [m.path for m in match(tree, {"team": "db"}, T)] == ["0.0"]
    tree = tree.model_copy(
        update={"routes": [tree.routes[0].model_copy(update={"continue_": True}), tree.routes[1]]}
    )
    assert [m.receivers for m in match(tree, {"team": "db"}, T)] == [("db",), ("both",)]
    assert [m.path for m in match(tree, {"team": "ops"}, T)] == ["0"]


def test_children_inherit_what_they_do_not_set_and_descend_to_the_deepest() -> None:
    tree = Route.model_validate(
        {
            "receivers": ["slack"],
            "group_by": ["alertname"],
            "repeat_interval_s": 60,
            "routes": [
                {
                    "matchers": ["service=zfs"],
                    "group_wait_s": 5,
                    "routes": [{"matchers": ["severity=critical"], "receivers": ["pd"]}],
                }
            ],
        }
    )
    (deep,) = match(tree, {"service": "zfs", "severity": "critical"}, T)
    assert deep.path == "0.0.0" and deep.receivers == ("pd",)
    assert deep.group_by == ("alertname",)
    assert deep.timers == Timers(5.0, 300.0, 60.0)
    (mid,) = match(tree, {"service": "zfs", "severity": "info"}, T)
    assert mid.path == "0.0" and mid.receivers == ("slack",)


def test_continue_is_spelled_as_in_alertmanager_in_config() -> None:
    route = Route.model_validate({"matchers": ["a=b"], "continue": True})
    assert route.continue_ and route.model_dump(by_alias=True)["continue"] is True


def test_receivers_are_names_then_kinds_and_all_means_every_enabled_channel() -> None:
    assert resolve_receivers(["hook"], CHANNELS) == ["hook"]
    assert resolve_receivers(["webhook"], CHANNELS) == ["hook"]  # the kind, enabled only
    assert resolve_receivers(["old-hook"], CHANNELS) == []  # disabled
    assert resolve_receivers(["nothing"], CHANNELS) == []
    assert "old-hook" not in resolve_receivers(["all"], CHANNELS)


def test_a_routes_identity_survives_reordering_but_not_a_change_of_receivers() -> None:
    labels = {"severity": "critical", "alertname": "X"}
    (before,) = match(severity_tree(), labels, T)
    added = Route(matchers=["team=db"], receivers=["db"])
    tree = severity_tree()
    reordered = tree.model_copy(update={"routes": [added, *tree.routes]})
    (after,) = match(reordered, labels, T)
    assert after.path != before.path and after.identity == before.identity
    critical = tree.routes[0].model_copy(update={"receivers": ["pagerduty"]})
    changed = tree.model_copy(update={"routes": [critical, *tree.routes[1:]]})
    assert match(changed, labels, T)[0].identity != before.identity
