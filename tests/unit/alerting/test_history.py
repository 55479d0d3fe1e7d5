"""GET /api/alerts/history on the real app: every filter (rule, fingerprint, status,
severity, time range) and cursor pages that cover the history once, newest first; history
times never go back, so a time range is an id range."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import asdict
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from api.schemas.alerts import HistoryEntryOut, HistoryOut
from appliance.alerting.evaluation import Outcome
from appliance.alerting.history import HistoryQuery, history_row, query_json
from appliance.alerting.models import AlertLevel
from appliance.alerting.models import AlertStatus as S
from appliance.alerting.service import AlertingService
from appliance.alerting.settings import EvaluationSettings
from appliance.alerting.sources import AgentFacts
from appliance.alerting.store import AlertStore
from appliance.database.connect import open_sqlite
from tests.unit.alerting.test_builtin import RecordingSink
from tests.unit.api.conftest import Agent, start_agent
from tests.unit.conftest import AgentDatabase


@pytest.fixture
def agent() -> Iterator[Agent]:
    with ExitStack() as stack:
        yield start_agent(stack)


def history(agent: Agent, **params: Any) -> dict[str, Any]:
    r = agent.send("GET", "/api/alerts/history", token=agent.tokens["viewer"], params=params)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def flap(agent: Agent) -> tuple[str, str]:
    """Two rules on the captured pools (tank 54.38 %, mpool 0.11 %): one flaps five times
    (a threshold moved across the value), one stays in nodata."""
    operator = agent.tokens["operator"]
    body = {"name": "TankHalf", "metric": "pool_capacity_percent", "threshold": 50,
            "severity": "error", "labels": {"team": "storage"}}  # fmt: skip
    flapping = agent.send("POST", "/api/alerts", token=operator, json=body).json()["id"]
    body = {"name": "Nothing", "metric": "no_such_metric", "threshold": 1, "severity": "info"}
    nodata = agent.send("POST", "/api/alerts", token=operator, json=body).json()["id"]
    service: AlertingService | None = agent.runtime.alerting
    assert service is not None
    for i in range(5):
        for threshold in (50, 60):
            url = f"/api/alerts/{flapping}"
            agent.send("PUT", url, token=operator, json={"threshold": threshold})
            service.evaluate_once(now=1000.0 + i * 100 + threshold)
    return flapping, nodata


def test_filters(agent: Agent) -> None:
    flapping, nodata = flap(agent)
    firing = history(agent, rule=flapping, status="firing")["entries"]
    assert len(firing) == 5 and {e["labels"]["pool"] for e in firing} == {"tank"}
    assert all(e["severity"] == "error" and e["value"] == 54.38 for e in firing)
    assert [e["status"] for e in history(agent, rule=nodata)["entries"]] == ["nodata"]
    fp = firing[0]["fingerprint"]
    by_fp = history(agent, fingerprint=fp)["entries"]
    assert len(by_fp) == 10 and {e["fingerprint"] for e in by_fp} == {fp}
    assert {e["status"] for e in by_fp} == {"firing", "resolved"}
    infos = history(agent, severity="info")["entries"]
    assert {e["rule_id"] for e in infos} >= {nodata} and all(e["severity"] == "info" for e in infos)
    window = history(agent, rule=flapping, since=1150, until=1350)["entries"]
    assert [e["ts"] for e in window] == [1260.0, 1250.0, 1160.0, 1150.0]  # since in, until out


def test_cursor_pages_cover_the_history_once_newest_first(agent: Agent) -> None:
    flap(agent)
    whole = history(agent, limit=500)["entries"]
    seen: list[int] = []
    page = history(agent, limit=3)
    while True:
        seen += [e["id"] for e in page["entries"]]
        if page["next_cursor"] is None:
            break
        page = history(agent, limit=3, cursor=page["next_cursor"])
    assert seen == [e["id"] for e in whole] == sorted(seen, reverse=True)
    assert len(seen) == len(set(seen)) > 10


@pytest.mark.parametrize(
    ("param", "value"),
    [("status", "burning"), ("severity", "fatal"), ("limit", 0), ("cursor", -1), ("rule", "../x")],
)
def test_bad_filters_are_422_naming_the_parameter(agent: Agent, param: str, value: Any) -> None:
    r = agent.send(
        "GET", "/api/alerts/history", token=agent.tokens["viewer"], params={param: value}
    )
    assert r.status_code == 422 and r.json()["error"]["details"][0]["loc"] == ["query", param]


def test_history_time_never_goes_back_so_a_range_is_an_id_range(tmp_path: Path) -> None:
    store = open_sqlite(tmp_path / "agent.db")
    alerts = AlertStore(store)
    labels = {"alertname": "a"}
    row = history_row(0.0, None, S.INACTIVE, S.FIRING, AlertLevel.INFO, labels, {}, None, "f")
    for now in (100.0, 200.0, 150.0, 300.0):  # the clock stepped back once
        alerts.apply(Outcome(), now, [row])
    entries, _ = alerts.history(HistoryQuery())
    assert [e.ts for e in reversed(entries)] == [100.0, 200.0, 200.0, 300.0]
    window, _ = alerts.history(HistoryQuery(since=200.0, until=300.0))
    assert [e.id for e in window] == [entries[1].id, entries[2].id]
    assert alerts.history(HistoryQuery(since=301.0)) == ([], None)
    assert alerts.history(HistoryQuery(until=100.0)) == ([], None)
    store.close()


def test_history_beyond_the_retention_is_pruned(tmp_path: Path) -> None:
    store = open_sqlite(tmp_path / "agent.db")
    facts = AgentFacts(lambda: None, lambda: None, lambda: None)
    settings = EvaluationSettings(history_retention_days=1)
    service = AlertingService.build(settings, store, facts.gather, RecordingSink())
    labels = {"alertname": "a"}
    row = history_row(0.0, None, S.INACTIVE, S.FIRING, AlertLevel.INFO, labels, {}, None, "f")
    for now in (100.0, 200.0, 300.0):
        service.store.apply(Outcome(), now, [row])
    assert service.prune(now=86_400.0 + 250.0) == 2
    entries, _ = service.history(HistoryQuery())
    assert [e.ts for e in entries] == [300.0]
    store.close()


def test_the_page_written_from_rows_is_the_history_out_of_the_entries(
    agent_db: AgentDatabase,
) -> None:
    """The route writes its JSON from the stored rows (labels and annotations as stored);
    on both dialects it must be what HistoryOut says of the same entries: odd text, no value,
    NaN, a cursor, each filter and a time range."""
    store = agent_db.store()
    alerts = AlertStore(store)
    labels = {"alertname": 'qu"ote\\', "pool": "tänk ☃", "x": "\n\t\u2028"}
    notes = {"summary": "</script> & 'x'", "runbook": "zpool status -x"}
    for i, value in enumerate((None, float("nan"), 54.38, 1e17, -0.0)):
        level = AlertLevel.ERROR if i % 2 else AlertLevel.INFO
        row = history_row(0.0, None if i else "r1", S.INACTIVE, S.FIRING, level, labels, notes,
                          value, f"{i % 2:016x}")  # fmt: skip
        alerts.apply(Outcome(), 100.0 + i, [row])
    queries = (
        HistoryQuery(limit=3),
        HistoryQuery(limit=3, cursor=3),
        HistoryQuery(rule_id="r1"),
        HistoryQuery(fingerprint=f"{1:016x}", status=S.FIRING, severity=AlertLevel.ERROR),
        HistoryQuery(since=101.0, until=104.0, limit=2),
        HistoryQuery(since=200.0),
    )
    for q in queries:
        entries, next_cursor = alerts.history(q)
        expected = HistoryOut(
            entries=[HistoryEntryOut.model_validate(asdict(e)) for e in entries],
            next_cursor=next_cursor,
        )
        written = store.run(partial(query_json, q=q))
        assert json.loads(written) == json.loads(expected.model_dump_json())
        as_json = expected.model_dump_json()  # NaN: null in JSON (not equal to itself)
        assert HistoryOut.model_validate_json(written) == HistoryOut.model_validate_json(as_json)
    assert [len(alerts.history(q)[0]) for q in queries] == [3, 2, 1, 2, 2, 0]
