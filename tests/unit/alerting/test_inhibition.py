"""Inhibition: source and target matchers and ``equal`` labels, as Alertmanager has them."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from appliance.alerting.dispatch.inhibition import InhibitRule, inhibited
from appliance.alerting.dispatch.settings import default_inhibit_rules

FAULTED = {"alertname": "PoolFaulted", "pool": "tank", "state": "FAULTED", "severity": "critical"}
QUOTA_TANK = {"alertname": "DatasetQuota", "pool": "tank", "dataset": "tank/home"}
QUOTA_BACKUP = {"alertname": "DatasetQuota", "pool": "backup", "dataset": "backup/x"}


def test_a_faulted_pool_inhibits_its_datasets_quota_alerts_only() -> None:
    rules = default_inhibit_rules()
    assert inhibited(QUOTA_TANK, [FAULTED, QUOTA_TANK, QUOTA_BACKUP], rules)
    assert not inhibited(QUOTA_BACKUP, [FAULTED, QUOTA_TANK, QUOTA_BACKUP], rules)
    assert not inhibited(QUOTA_TANK, [QUOTA_TANK], rules)  # no source firing
    degraded = {**FAULTED, "alertname": "PoolDegraded", "state": "DEGRADED"}
    assert not inhibited(QUOTA_TANK, [degraded], rules)
    capacity = {"alertname": "PoolCapacity", "pool": "tank", "level": "95"}
    assert inhibited(capacity, [FAULTED], rules)


def test_an_alert_does_not_inhibit_itself_nor_do_two_sided_alerts_each_other() -> None:
    rule = InhibitRule(source_matchers=["severity=critical"], target_matchers=["team=db"])
    both_a = {"alertname": "A", "severity": "critical", "team": "db"}
    both_b = {"alertname": "B", "severity": "critical", "team": "db"}
    assert not inhibited(both_a, [both_a], [rule])
    assert not inhibited(both_a, [both_a, both_b], [rule])
    plain_source = {"alertname": "C", "severity": "critical"}
    assert inhibited(both_a, [plain_source], [rule])


def test_equal_compares_absent_labels_as_empty() -> None:
    rule = InhibitRule(source_matchers=["a=1"], target_matchers=["b=1"], equal=["zone"])
    assert inhibited({"b": "1"}, [{"a": "1"}], [rule])
    assert not inhibited({"b": "1", "zone": "x"}, [{"a": "1"}], [rule])


def test_a_rule_needs_matchers_on_both_sides() -> None:
    with pytest.raises(ValidationError) as caught:
        InhibitRule(source_matchers=[], target_matchers=["a=~("])
    assert {e["loc"][0] for e in caught.value.errors()} == {"source_matchers", "target_matchers"}
