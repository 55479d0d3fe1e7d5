"""The rule state machine, pure: inactive → pending (for) → firing → resolved, nodata, series
that go away, hysteresis, retiring a rule. Times are given, no clock, no database."""

from __future__ import annotations

import math
from typing import Any

import pytest

from appliance.alerting.evaluation import AlertState, Outcome, Series, evaluate_rule, retire
from appliance.alerting.models import AlertStatus, fingerprint
from appliance.alerting.rules import Rule

S = AlertStatus


def rule(**fields: Any) -> Rule:
    base: dict[str, Any] = {"id": "r1", "name": "HighCpu", "threshold": 90.0}
    return Rule.model_validate({**base, **fields})


class Run:
    """Keeps states between evaluations as the evaluator does."""

    def __init__(self, r: Rule) -> None:
        self.rule = r
        self.states: dict[str, AlertState] = {}
        self.log: list[Outcome] = []

    def at(
        self, now: float, *values: float | None, labels: dict[str, str] | None = None
    ) -> Outcome:
        series = [Series(labels or {"service": "host"}, v) for v in values if v is not None]
        out = evaluate_rule(self.rule, series, self.states, now)
        for _, fp in out.dropped:
            self.states.pop(fp)
        self.states.update((s.fingerprint, s) for s in out.changed)
        self.log.append(out)
        return out

    def moves(self) -> list[tuple[AlertStatus, AlertStatus]]:
        return [(t.previous, t.state.status) for o in self.log for t in o.transitions]


def test_pending_for_the_duration_then_firing_then_resolved() -> None:
    run = Run(rule(**{"for": "1m"}))
    assert run.at(0, 50).transitions == []
    assert run.states == {}  # inactive alerts keep no state
    run.at(10, 95)
    (state,) = run.states.values()
    assert (state.status, state.pending_since) == (S.PENDING, 10)
    assert run.at(69, 96).alerts == []  # 59 s held: not yet
    fired = run.at(70, 97)
    assert [a.status for a in fired.alerts] == [S.FIRING]
    assert fired.alerts[0].starts_at == 70 and fired.alerts[0].value == 97
    again = run.at(80, 98)
    assert again.transitions == [] and [a.status for a in again.alerts] == [S.FIRING]
    resolved = run.at(90, 10)
    (alert,) = resolved.alerts
    assert (alert.status, alert.starts_at, alert.ends_at) == (S.RESOLVED, 70, 90)
    assert run.moves() == [(S.INACTIVE, S.PENDING), (S.PENDING, S.FIRING), (S.FIRING, S.RESOLVED)]


def test_a_breach_shorter_than_for_goes_back_to_inactive_without_firing() -> None:
    run = Run(rule(**{"for": 60}))
    run.at(0, 95)
    out = run.at(30, 80)
    assert out.alerts == [] and run.states == {}
    assert run.moves() == [(S.INACTIVE, S.PENDING), (S.PENDING, S.INACTIVE)]


def test_for_zero_fires_at_once_with_labels_and_annotations() -> None:
    r = rule(
        severity="critical",
        labels={"team": "storage"},
        description="CPU at {{ $value }} on {{ $labels.service }}",
        annotations={"runbook": "restart {{ $labels.service }}"},
        channels=["ops"],
    )
    (alert,) = Run(r).at(5, 93.5).alerts
    assert alert.labels == {
        "alertname": "HighCpu",
        "severity": "critical",
        "service": "host",
        "team": "storage",
    }
    assert alert.fingerprint == fingerprint(alert.labels)
    assert alert.annotations["description"] == "CPU at 93.5 on host"
    assert alert.annotations["runbook"] == "restart host"
    assert (alert.rule_id, alert.channels) == ("r1", ("ops",))


@pytest.mark.parametrize(
    ("condition", "value", "fires"),
    [(">", 90, False), (">=", 90, True), ("<", 89, True), ("<=", 91, False), ("==", 90, True),
     ("!=", 90, False), ("!=", 1, True), (">", math.nan, False), ("!=", math.nan, False)],
)  # fmt: skip
def test_each_condition(condition: str, value: float, fires: bool) -> None:
    out = Run(rule(condition=condition)).at(0, value)
    assert bool(out.alerts) is fires


def test_no_series_is_nodata_and_data_ends_it() -> None:
    run = Run(rule(service="data-processing"))
    out = run.at(0)
    (state,) = run.states.values()
    assert state.status is S.NODATA and out.alerts == []
    assert state.labels["service"] == "data-processing"
    assert run.at(15).transitions == []  # still nodata: said once
    run.at(30, 50, labels={"service": "data-processing"})
    assert run.states == {}
    assert run.moves() == [(S.INACTIVE, S.NODATA), (S.NODATA, S.INACTIVE)]


def test_a_firing_alert_keeps_firing_when_all_data_goes_away() -> None:
    run = Run(rule())
    run.at(0, 95)
    assert run.at(15).alerts == []
    assert [s.status for s in run.states.values()] == [S.FIRING]


def test_a_series_that_goes_away_resolves_while_others_remain() -> None:
    run = Run(rule(metric="pool_capacity_percent"))
    run.at(0, 95, labels={"pool": "tank"})
    out = evaluate_rule(run.rule, [Series({"pool": "backup"}, 10)], run.states, 15)
    (alert,) = out.alerts
    assert (alert.labels["pool"], alert.status) == ("tank", S.RESOLVED)


def test_hysteresis_keeps_an_alert_firing_at_the_edge() -> None:
    run = Run(rule(condition=">=", hysteresis=1.0))
    for i in range(20):
        run.at(i * 30, 90.5)
        run.at(i * 30 + 15, 89.5)
    assert run.moves() == [(S.INACTIVE, S.FIRING)]
    assert run.at(600, 88.9).alerts[0].status is S.RESOLVED


def test_without_hysteresis_the_same_edge_flaps() -> None:
    run = Run(rule(condition=">="))
    for i in range(5):
        run.at(i * 30, 90.5)
        run.at(i * 30 + 15, 89.5)
    assert run.moves().count((S.INACTIVE, S.FIRING)) == 1  # then resolved → firing
    assert run.moves().count((S.RESOLVED, S.FIRING)) == 4


def test_retire_resolves_firing_alerts_and_drops_every_state() -> None:
    r = rule(metric="m", **{"for": 60})
    first = evaluate_rule(r, [Series({"pool": "a"}, 95)], {}, 0)
    states = {s.fingerprint: s for s in first.changed}
    fired = evaluate_rule(r, [Series({"pool": "a"}, 95), Series({"pool": "b"}, 95)], states, 60)
    states.update((s.fingerprint, s) for s in fired.changed)
    assert sorted(s.status for s in states.values()) == [S.FIRING, S.PENDING]
    out = retire(r, states.values(), 90)
    assert [(a.status, a.ends_at) for a in out.alerts] == [(S.RESOLVED, 90)]
    assert out.changed == [] and len(out.dropped) == 2


def test_a_round_adds_to_one_outcome_and_quiet_rules_add_nothing() -> None:
    out = Outcome()
    quiet = [Series({"pool": f"p{i}"}, 10.0) for i in range(50)]
    assert evaluate_rule(rule(), quiet, {}, 0, out) is out
    assert (out.changed, out.dropped, out.transitions, out.alerts) == ([], [], [], [])
    evaluate_rule(rule(id="r2"), [*quiet, Series({"pool": "hot"}, 95.0)], {}, 0, out)
    evaluate_rule(rule(id="r3", metric="absent"), [], {}, 0, out)
    assert [(s.rule_id, s.status) for s in out.changed] == [("r2", S.FIRING), ("r3", S.NODATA)]
