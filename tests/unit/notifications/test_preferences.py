"""Preferences: the spec's body, notify without a channel following them (on/off, address,
minimum severity), and quiet hours holding non-critical notifications until they end."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from appliance.notifications.models import Channel, Severity
from appliance.notifications.preferences import Preference, quiet_until
from tests.unit.api.conftest import Agent, start_agent
from tests.unit.notifications.receivers import SmtpReceiver

PARIS = ZoneInfo("Europe/Paris")


def at(hhmm: str, zone: ZoneInfo = PARIS) -> float:
    h, m = map(int, hhmm.split(":"))
    return datetime(2026, 11, 28, h, m, tzinfo=zone).timestamp()


@pytest.mark.parametrize(
    ("start", "end", "now", "until"),
    [
        ("22:00", "07:00", "23:30", "07:00+1"),  # wraps midnight
        ("22:00", "07:00", "03:00", "07:00"),
        ("22:00", "07:00", "07:00", None),  # the end is outside
        ("22:00", "07:00", "12:00", None),
        ("12:00", "14:00", "13:59", "14:00"),
        ("12:00", "14:00", "14:01", None),
        ("09:00", "09:00", "09:00", None),  # empty window
    ],
)
def test_quiet_until(start: str, end: str, now: str, until: str | None) -> None:
    pref = Preference("u", "c", quiet_start=start, quiet_end=end, timezone="Europe/Paris")
    expected = None
    if until is not None:
        expected = at(until.removesuffix("+1")) + (86_400 if until.endswith("+1") else 0)
    assert quiet_until(pref, at(now)) == expected


@pytest.fixture
def agent() -> Iterator[Agent]:
    with ExitStack() as stack:
        yield start_agent(stack)


def setup(agent: Agent, smtp: SmtpReceiver) -> None:
    assert agent.runtime.notifications is not None
    outbox = agent.runtime.notifications.outbox
    opts = {"host": "127.0.0.1", "port": smtp.port, "tls": "none", "from": "agent@example.com"}
    outbox.put_channel(Channel("email", "email", opts), create=True)
    outbox.put_channel(Channel("hook", "webhook", {"url": "http://127.0.0.1:9/h"}), create=True)


def test_the_spec_body_sets_a_preference_and_it_reads_back(
    agent: Agent, smtp: SmtpReceiver
) -> None:
    setup(agent, smtp)
    body = {"user_id": "user123", "channel": "email", "enabled": True}
    r = agent.send(
        "POST", "/api/notifications/preferences", token=agent.tokens["operator"], json=body
    )
    assert r.status_code == 200, r.text
    got = agent.client.get("/api/notifications/preferences/user123").json()
    assert [(p["channel"], p["enabled"], p["min_severity"]) for p in got["preferences"]] == [
        ("email", True, "info")
    ]
    body = {**body, "enabled": False, "address": "u@example.com", "min_severity": "error"}
    assert agent.client.post("/api/notifications/preferences", json=body).status_code == 200
    (p,) = agent.client.get("/api/notifications/preferences/user123").json()["preferences"]
    assert (p["enabled"], p["address"], p["min_severity"]) == (False, "u@example.com", "error")
    assert (
        agent.send(
            "POST", "/api/notifications/preferences", token=agent.tokens["viewer"], json=body
        ).status_code
        == 403
    )
    bad = {**body, "timezone": "Mars/Olympus"}
    assert agent.client.post("/api/notifications/preferences", json=bad).status_code == 422


def channels_of(agent: Agent, **extra: object) -> list[tuple[str, str | None, str]]:
    body = {"user_id": "user123", "subject": "s", "message": "m", **extra}
    r = agent.client.post("/api/notifications/notify", json=body)
    if r.status_code == 404:
        return []
    assert r.status_code == 202, r.text
    items = agent.client.get("/api/notifications", params={"user_id": "user123"}).json()
    chosen = [n for n in items["notifications"] if n["id"] in r.json()["ids"]]
    return sorted((n["channel"], n["to"], n["status"]) for n in chosen)


def test_notify_without_a_channel_follows_the_preferences(agent: Agent, smtp: SmtpReceiver) -> None:
    setup(agent, smtp)
    assert channels_of(agent) == []  # no preferences: 404, nothing written
    post = agent.client.post
    post(
        "/api/notifications/preferences",
        json={"user_id": "user123", "channel": "email", "address": "u@example.com"},
    )
    post(
        "/api/notifications/preferences",
        json={"user_id": "user123", "channel": "hook", "min_severity": "error"},
    )
    post(
        "/api/notifications/preferences",
        json={"user_id": "user123", "channel": "gone", "enabled": True},
    )  # a channel that does not exist is skipped
    assert channels_of(agent) == [("email", "u@example.com", "pending")]
    assert channels_of(agent, severity="error") == [
        ("email", "u@example.com", "pending"),
        ("hook", None, "pending"),
    ]
    assert channels_of(agent, to="other@example.com") == [("email", "other@example.com", "pending")]
    post(
        "/api/notifications/preferences",
        json={"user_id": "user123", "channel": "email", "enabled": False},
    )
    assert channels_of(agent) == []
    # An explicit channel is used as asked, with the user's address when `to` is missing.
    assert channels_of(agent, channel="hook") == [("hook", None, "pending")]


def test_quiet_hours_hold_non_critical_notifications_until_they_end(
    agent: Agent, smtp: SmtpReceiver
) -> None:
    setup(agent, smtp)
    now = datetime.now(ZoneInfo("UTC"))
    start = f"{(now.hour - 1) % 24:02d}:00"
    end = f"{(now.hour + 2) % 24:02d}:00"
    body = {
        "user_id": "user123",
        "channel": "email",
        "address": "u@example.com",
        "quiet_start": start,
        "quiet_end": end,
    }
    assert agent.client.post("/api/notifications/preferences", json=body).status_code == 200
    assert channels_of(agent) == [("email", "u@example.com", "held")]
    assert channels_of(agent, severity=Severity.CRITICAL.value) == [
        ("email", "u@example.com", "pending")
    ]
    held = agent.client.get("/api/notifications", params={"status": "held"}).json()
    (n,) = held["notifications"]
    assert n["next_attempt_at"] == quiet_until(
        Preference("u", "c", quiet_start=start, quiet_end=end), n["created_at"]
    )
    # Held means not sent: the worker finds only the critical one due.
    assert agent.runtime.notifications is not None
    due = agent.runtime.notifications.outbox.claim(100, 60.0)
    assert [d.severity for d in due] == [Severity.CRITICAL]
