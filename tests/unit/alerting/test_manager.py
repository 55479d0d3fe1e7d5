"""send_alert, exactly as the seed calls it: through the agent's pipeline (history, the
event bus, the real Dispatcher), enriched with time, host, service, caller and, inside
``except``, the stack trace."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from appliance.alerting.history import HistoryQuery
from appliance.alerting.manager import AlertLevel, AlertManager, get_alert_manager
from appliance.alerting.models import AlertStatus
from appliance.alerting.service import AlertingService
from appliance.alerting.settings import EvaluationSettings
from appliance.alerting.sources import AgentFacts
from appliance.database.connect import open_sqlite
from tests.unit.alerting.test_builtin import RecordingSink
from tests.unit.api.conftest import Agent, start_agent


@pytest.fixture
def agent() -> Iterator[Agent]:
    with ExitStack() as stack:
        yield start_agent(stack)


def connect_to_primary() -> None:
    raise ConnectionRefusedError(111, "ECONNREFUSED")


def test_the_seed_example_inside_except_reaches_the_dispatcher(agent: Agent) -> None:
    alerter = get_alert_manager()
    assert agent.runtime.alerting is not None and alerter is agent.runtime.alerting.manager
    try:
        connect_to_primary()
    except ConnectionRefusedError:
        alert = alerter.send_alert(
            message="CRITICAL: Primary Postgres Connection Failed [ECONNREFUSED]",
            level=AlertLevel.CRITICAL,
            channels=None,
            context={"node": "worker-01", "retry_count": 5},
        )
    notes = alert.annotations
    assert "connect_to_primary" in notes["stack_trace"]
    assert "ConnectionRefusedError" in notes["stack_trace"]
    assert notes["host"] == socket.gethostname() and notes["service"] == "sovereign-agent"
    assert notes["timestamp"].endswith("+00:00")
    assert notes["caller"].startswith(f"{__name__}:test_the_seed_example")
    assert alert.context == {"node": "worker-01", "retry_count": 5}
    assert (alert.status, alert.severity, alert.channels) == (
        AlertStatus.FIRING,
        AlertLevel.CRITICAL,
        None,
    )

    assert agent.runtime.dispatcher is not None
    (stored,) = [a for a in agent.runtime.dispatcher.store.alerts() if a.rule_id is None]
    assert stored.fingerprint == alert.fingerprint and stored.firing
    entries, _ = agent.runtime.alerting.history(HistoryQuery(fingerprint=alert.fingerprint))
    (entry,) = entries
    assert (entry.rule_id, entry.status, entry.severity) == (None, "firing", "critical")
    assert entry.alertname == "CRITICAL: Primary Postgres Connection Failed [ECONNREFUSED]"
    r = agent.send("GET", "/api/alerts/history", token=agent.tokens["viewer"])
    assert r.json()["entries"][0]["annotations"]["stack_trace"] == notes["stack_trace"]


def test_outside_except_there_is_no_stack_trace_and_repeats_are_one_alert(
    tmp_path: Path,
) -> None:
    store = open_sqlite(tmp_path / "agent.db")
    store.prepare()
    sink = RecordingSink()
    published: list[tuple[str, dict[str, Any], str]] = []
    facts = AgentFacts(lambda: None, lambda: None, lambda: None)
    service = AlertingService.build(
        EvaluationSettings(), store, facts.gather, sink, lambda *event: published.append(event)
    )
    for _ in range(2):
        service.manager.send_alert("disk slow", "warning", ["ops"], {"service": "backup"})
    first, second = sink.alerts
    assert "stack_trace" not in first.annotations
    assert first.fingerprint == second.fingerprint  # the dispatcher dedups them
    assert (first.labels["service"], first.channels) == ("backup", ("ops",))
    assert [(topic, key) for topic, _, key in published] == [
        ("sovereign.alerts", first.fingerprint)
    ] * 2
    assert published[0][1]["context"] == {"service": "backup"}
    store.close()


def test_without_an_agent_the_alert_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    alert = AlertManager(None).send_alert("no agent here", AlertLevel.ERROR)
    assert alert.name == "no agent here"
    assert [r.levelno for r in caplog.records] == [logging.ERROR]
    assert "no agent here" in caplog.text


def test_an_unknown_level_is_refused() -> None:
    with pytest.raises(ValueError, match="fatal"):
        AlertManager(None).send_alert("x", "fatal")
