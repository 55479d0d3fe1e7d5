"""POST /api/notifications/notify writes its audit record in the transaction of the rows it
queues: one commit, and never a notification without its record (nor a record of one that was
not queued). Refusals and duplicates are still recorded, by the trail after the answer."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack

import pytest
from sqlalchemy import text

from appliance.notifications.models import Channel
from appliance.notifications.outbox import HistoryQuery
from appliance.notifications.service import NotificationService
from appliance.security.audit import AuditQuery, AuditRecord
from tests.unit.api.conftest import Agent, start_agent

BODY = {"user_id": "u1", "channel": "hook", "subject": "s", "message": "m"}


@pytest.fixture
def agent() -> Iterator[Agent]:
    with ExitStack() as stack:
        agent = start_agent(stack)
        service(agent).outbox.put_channel(
            Channel("hook", "webhook", {"url": "http://127.0.0.1:9/hook"}), create=True
        )
        yield agent


def service(agent: Agent) -> NotificationService:
    assert agent.runtime.notifications is not None
    return agent.runtime.notifications


def records(agent: Agent) -> list[AuditRecord]:
    return agent.security.audit.query(AuditQuery(action="notification.notify"))[0]


def notify(agent: Agent, body: dict[str, str] = BODY, key: str | None = None) -> int:
    headers = {"Idempotency-Key": key} if key else None
    token = agent.tokens["operator"]
    response = agent.send("POST", "/api/notifications/notify", token, headers, json=body)
    return response.status_code


def test_one_record_per_notification_with_its_answer(agent: Agent) -> None:
    assert notify(agent) == 202
    (record,) = records(agent)
    assert (record.actor, record.target, record.outcome, record.status) == (
        "test-operator",
        "u1",
        "success",
        202,
    )
    assert record.detail == {"channel": "hook"}
    assert agent.security.audit.verify().ok


def test_no_notification_is_queued_when_its_record_cannot_be_written(agent: Agent) -> None:
    assert agent.runtime.store is not None
    with agent.runtime.store.engine.begin() as c:
        c.execute(
            text(
                "CREATE TRIGGER refuse BEFORE INSERT ON audit_log "
                "BEGIN SELECT RAISE(ABORT, 'audit refused'); END"
            )
        )
    assert notify(agent) == 503  # the store refused the transaction
    assert service(agent).outbox.history(HistoryQuery())[0] == []
    with agent.runtime.store.engine.begin() as c:
        c.execute(text("DROP TRIGGER refuse"))
    assert notify(agent) == 202
    assert [r.status for r in records(agent)] == [202]


def test_refusals_and_duplicates_are_recorded_by_the_trail(agent: Agent) -> None:
    assert notify(agent, {**BODY, "channel": "nowhere"}) == 404
    assert notify(agent, key="k-1") == 202
    assert notify(agent, key="k-1") == 202  # the duplicate: the first call's ids
    assert [(r.status, r.outcome) for r in reversed(records(agent))] == [
        (404, "failure"),
        (202, "success"),
        (202, "success"),
    ]
    assert len(service(agent).outbox.history(HistoryQuery())[0]) == 1


def test_a_named_channel_without_to_goes_to_the_users_address(agent: Agent) -> None:
    token = agent.tokens["operator"]
    pref = {"user_id": "u1", "channel": "hook", "address": "u1@example.com"}
    assert agent.send("POST", "/api/notifications/preferences", token, json=pref).is_success
    assert notify(agent) == 202
    assert notify(agent, {**BODY, "to": "other@example.com"}) == 202
    assert notify(agent, {**BODY, "user_id": "u2"}) == 202
    items, _ = service(agent).outbox.history(HistoryQuery())
    assert [(n.user_id, n.recipient) for n in reversed(items)] == [
        ("u1", "u1@example.com"),
        ("u1", "other@example.com"),
        ("u2", None),
    ]
