"""The database-away alert survives the agent's restarts (outage_file.py): a dispatcher made
afresh over the same state file (what the agent killed with SIGKILL and started again builds)
neither sends AgentDatabaseDown twice nor forgets its resolve, counts from the outage's start,
and sends with the channels recorded while it could still read them. The world is real: an
agent database (SQLite and PostgreSQL), the outbox, Apprise to a webhook receiver, the alert
history; "the database away" is a store whose port nobody listens on."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance.alerting.dispatch.dispatcher import Dispatcher
from appliance.alerting.dispatch.outage import ALERTNAME
from appliance.alerting.dispatch.outage_file import (
    OutageRecord,
    parse_record,
    read_record,
    record_text,
)
from appliance.alerting.dispatch.routing import Route
from appliance.alerting.dispatch.settings import DispatchSettings, RoutingSettings
from appliance.alerting.dispatch.store import DispatchStore
from appliance.alerting.evaluator import Pipeline
from appliance.alerting.history import HistoryQuery
from appliance.alerting.manager import AlertManager
from appliance.alerting.store import AlertStore
from appliance.database.errors import DatabaseUnavailable
from appliance.database.repository import Store
from appliance.notifications.models import Channel
from appliance.notifications.service import NotificationService
from appliance.notifications.settings import NotificationSettings
from appliance.secrets import SecretManager
from appliance.secrets.env import EnvBackend
from tests.support import free_port
from tests.unit.alerting.dispatch_support import T0, World, make_world
from tests.unit.conftest import AgentDatabase
from tests.unit.notifications.receivers import WebhookReceiver

AFTER_S = 30.0
ROUTING = RoutingSettings(route=Route(receivers=["hook"], group_by=["alertname"]))


class Away:
    """An agent database nobody listens for (PostgreSQL on a free port): every use raises
    DatabaseUnavailable, as the agent's store does while its database is stopped."""

    def __init__(self) -> None:
        url = f"postgresql://sovereign_agent@127.0.0.1:{free_port()}/agent"
        self.database = AgentDatabase("postgresql", url, "unused")
        self.store = self.database.store(lock_timeout_s=1.0)
        secrets = SecretManager(EnvBackend(environ=dict), 300.0)
        self.service = NotificationService.build(NotificationSettings(), self.store, secrets)


def dispatcher(store: Store, service: NotificationService, state: Path) -> Dispatcher:
    """What the agent builds at each start (a fresh one after a kill)."""
    settings = DispatchSettings(database_down_after_s=AFTER_S, outage_state_file=state)
    history = AlertManager(Pipeline(AlertStore(store), _NoSink())).record
    return Dispatcher(DispatchStore(store), service, settings, ROUTING, history=history)


class _NoSink:
    def submit(self, alert: object) -> None:
        raise AssertionError("nothing is submitted here")


def outage_history(world: World) -> list[str]:
    entries, _ = AlertStore(world.store).history(HistoryQuery(limit=50))
    return [e.status.value for e in reversed(entries) if e.labels["alertname"] == ALERTNAME]


def titles(webhook: WebhookReceiver) -> list[str]:
    return [str(p["json"].get("title", "")).split(" on ")[0] for p in webhook.delivered()]


def outage_begun(world: World, state: Path) -> Dispatcher:
    """A dispatcher after a good tick (it has read its channels and routing) whose next tick
    found the database away at T0 + 1: the outage's start is on disk."""
    d = dispatcher(world.store, world.service, state)
    d.tick(T0)
    assert d.database_away(T0 + 1) == [] and state.exists()
    return d


@pytest.fixture
def world(agent_db: AgentDatabase, webhook: WebhookReceiver) -> World:
    return make_world(agent_db.store(), webhook.url, ROUTING)


@pytest.fixture
def state(tmp_path: Path) -> Path:
    return tmp_path / "alert-outage.json"


@pytest.fixture
def away() -> Iterator[Away]:
    a = Away()
    yield a
    a.database.close()


def test_killed_after_the_alert_went_out_it_is_not_sent_again_and_the_resolve_follows(
    world: World, webhook: WebhookReceiver, away: Away, state: Path
) -> None:
    first = outage_begun(world, state)
    assert first.database_away(T0 + 1 + AFTER_S) == ["hook"]
    assert titles(webhook) == [f"[ERROR] {ALERTNAME} firing"]

    # kill -9; the agent starts again while the database is still away.
    second = dispatcher(away.store, away.service, state)
    with pytest.raises(DatabaseUnavailable):
        second.tick(T0 + 60)
    assert second.database_away(T0 + 60) == []  # told before the kill: not again
    assert second.database_away(T0 + 3600) == []
    assert len(webhook.delivered()) == 1

    # Killed again; this time the database is back when it starts.
    third = dispatcher(world.store, world.service, state)
    third.tick(T0 + 4000)
    sent = third.database_back()
    assert sent is not None and sent.channels == ("hook",)
    world.deliver()
    assert titles(webhook) == [f"[ERROR] {ALERTNAME} firing", f"[RESOLVED] {ALERTNAME}"]
    assert outage_history(world) == ["firing", "resolved"]
    assert not state.exists()
    assert third.database_back() is None  # nothing owed any more


def test_killed_before_it_was_due_it_counts_from_the_start_with_the_recorded_channels(
    world: World, webhook: WebhookReceiver, away: Away, state: Path
) -> None:
    outage_begun(world, state)
    # kill -9 before the alert was due; the new agent never reaches its database, so it
    # knows the channels only from the record, and the outage's start too.
    second = dispatcher(away.store, away.service, state)
    with pytest.raises(DatabaseUnavailable):
        second.tick(T0 + 20)
    assert second.database_away(T0 + 20) == []  # 19 s into the outage, not 0
    assert second.database_away(T0 + 1 + AFTER_S) == ["hook"]
    assert titles(webhook) == [f"[ERROR] {ALERTNAME} firing"]
    record = read_record(state)
    assert record is not None and record.down_since == T0 + 1 and record.sent_to == ("hook",)


def test_a_crash_between_the_resolve_and_the_records_removal_sends_no_second_resolve(
    world: World, webhook: WebhookReceiver, state: Path
) -> None:
    first = outage_begun(world, state)
    assert first.database_away(T0 + 1 + AFTER_S) == ["hook"]
    kept = state.with_name("kept.json")
    shutil.copy(state, kept)
    first.tick(T0 + 100)
    assert first.database_back() is not None
    shutil.copy(kept, state)  # as if killed before the record was removed
    again = dispatcher(world.store, world.service, state)
    again.tick(T0 + 120)
    resent = again.database_back()
    assert resent is not None and len(resent.ids) == 1  # the outbox's row, found by its key
    world.deliver()
    assert titles(webhook) == [f"[ERROR] {ALERTNAME} firing", f"[RESOLVED] {ALERTNAME}"]
    assert [n.channel for n in world.sent() if ALERTNAME in n.subject] == ["hook"]


def test_a_short_outage_leaves_nothing_behind(
    world: World, webhook: WebhookReceiver, state: Path
) -> None:
    d = outage_begun(world, state)
    d.tick(T0 + 10)
    assert d.database_back() is None and not state.exists()
    assert webhook.posts == [] and outage_history(world) == []


def test_the_record_round_trips_and_a_bad_one_is_ignored(tmp_path: Path) -> None:
    record = OutageRecord(
        T0, T0 + 30, ("hook",), ROUTING,
        (Channel("hook", "webhook", {"url": "http://127.0.0.1:9/x"}, None, True),),
    )  # fmt: skip
    assert parse_record(record_text(record)) == record
    assert parse_record(record_text(OutageRecord(T0))) == OutageRecord(T0)
    for bad in ("", "{}", '{"version": 1}', '{"version": 1, "down_since": "x"}', "[1]"):
        with pytest.raises(ValueError):
            parse_record(bad)
    path = tmp_path / "alert-outage.json"
    path.write_text('{"version": 1, "down_since": ')
    assert read_record(path) is None
    assert read_record(tmp_path / "none.json") is None
