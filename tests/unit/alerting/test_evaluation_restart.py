"""Durable alert states: a new evaluator on the same database (the agent after kill -9)
resumes from the states the last one wrote: pending keeps its start, firing is not submitted
as a new alert, and a condition that ended while it was down resolves on its first round."""

from __future__ import annotations

from pathlib import Path

from appliance.alerting.history import HistoryQuery
from appliance.alerting.models import Alert, AlertStatus
from appliance.alerting.rules import RuleSpec
from appliance.alerting.service import AlertingService
from appliance.alerting.settings import EvaluationSettings
from appliance.alerting.sources import AgentFacts
from appliance.database.connect import open_sqlite
from appliance.storage.models import StorageReport
from tests.unit.alerting.test_builtin import RecordingSink, pool

S = AlertStatus


class Agent:
    """One life of the agent: its own store and evaluator on the shared database file.
    Nothing is closed between lives, as after kill -9."""

    def __init__(self, path: Path, capacity: float) -> None:
        self.capacity = capacity
        self.sink = RecordingSink()
        store = open_sqlite(path)
        store.prepare()
        facts = AgentFacts(lambda: None, lambda: None, self.storage)
        self.service = AlertingService.build(EvaluationSettings(), store, facts.gather, self.sink)

    def alerts(self, rule_id: str) -> list[Alert]:
        return [a for a in self.sink.alerts if a.rule_id == rule_id]

    def storage(self) -> StorageReport:
        return StorageReport("cli", 0.0, [pool(capacity=self.capacity)], {})


def moves(service: AlertingService, rule_id: str) -> list[tuple[S, S, float]]:
    entries, _ = service.history(HistoryQuery(rule_id=rule_id))
    return [(e.previous, e.status, e.ts) for e in reversed(entries)]


def test_states_survive_restarts(tmp_path: Path) -> None:
    db = tmp_path / "agent.db"
    first = Agent(db, 95.0)
    spec = RuleSpec.model_validate(
        {"name": "PoolFull", "metric": "pool_capacity_percent", "threshold": 90, "for": "1m"}
    )
    rule = first.service.create(spec, "test").rule
    first.service.evaluate_once(1000.0)
    assert [a.status for a in first.service.rule(rule.id).alerts] == [S.PENDING]

    second = Agent(db, 95.0)  # 30 s later: still pending since 1000, not since now
    second.service.evaluate_once(1030.0)
    assert second.service.rule(rule.id).alerts[0].pending_since == 1000.0
    second.service.evaluate_once(1060.0)
    assert [(a.status, a.starts_at) for a in second.alerts(rule.id)] == [(S.FIRING, 1060.0)]

    third = Agent(db, 96.0)  # still firing: the same alert again, not a new one
    third.service.evaluate_once(1075.0)
    (alert,) = third.alerts(rule.id)
    assert (alert.status, alert.starts_at, alert.value) == (S.FIRING, 1060.0, 96.0)
    assert moves(third.service, rule.id) == [
        (S.INACTIVE, S.PENDING, 1000.0),
        (S.PENDING, S.FIRING, 1060.0),
    ]

    fourth = Agent(db, 50.0)  # the pool was cleaned up while the agent was down
    fourth.service.evaluate_once(2000.0)
    (alert,) = fourth.alerts(rule.id)
    assert (alert.status, alert.starts_at, alert.ends_at) == (S.RESOLVED, 1060.0, 2000.0)
    assert moves(fourth.service, rule.id)[-1] == (S.FIRING, S.RESOLVED, 2000.0)


def test_a_state_written_is_read_back_whole(tmp_path: Path) -> None:
    db = tmp_path / "agent.db"
    first = Agent(db, 95.0)
    first.service.evaluate_once(1000.0)
    before = first.service.rule("builtin-pool-capacity-90").alerts
    after = Agent(db, 95.0).service.rule("builtin-pool-capacity-90").alerts
    assert after == before and before[0].status is S.FIRING and before[0].last_value == 95.0
