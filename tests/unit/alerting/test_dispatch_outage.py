"""The agent's own database away (found writing the lab drill: PostgreSQL stopped sent nothing,
since the rules, alert states and the notification outbox all live in it). The dispatcher's
loop, on a real PostgreSQL cluster of this test that is stopped and started again, sends
AgentDatabaseDown straight to a real webhook once the database has been away
`database_down_after_s`, once, and its resolve through the outbox when it is back."""

from __future__ import annotations

import asyncio
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from appliance.alerting.dispatch.dispatcher import Dispatcher
from appliance.alerting.dispatch.outage import ALERTNAME, DatabaseWatch
from appliance.alerting.dispatch.routing import Route
from appliance.alerting.dispatch.settings import DispatchSettings, RoutingSettings
from appliance.alerting.dispatch.store import DispatchStore
from appliance.database.errors import DatabaseUnavailable
from appliance.notifications.service import NotificationService
from appliance.notifications.settings import NotificationSettings
from appliance.secrets import SecretManager
from appliance.secrets.env import EnvBackend
from tests.support import PG_BIN, free_port, wait_until
from tests.unit.alerting.dispatch_support import make_world
from tests.unit.conftest import AgentDatabase
from tests.unit.notifications.receivers import WebhookReceiver

ROLE = "sovereign_agent"


@dataclass
class Cluster:
    """A PostgreSQL 15 cluster this test owns, so it can stop and start it."""

    directory: Path
    port: int

    def pg_ctl(self, *args: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        command = [*prefix, str(PG_BIN / "pg_ctl"), "-D", str(self.directory / "data"), *args]
        subprocess.run(command, check=True, capture_output=True)

    def start(self) -> None:
        opts = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=off"
        self.pg_ctl("-o", opts, "-w", "-l", str(self.directory / "log"), "start")

    def stop(self) -> None:
        self.pg_ctl("-m", "fast", "-w", "stop")

    def psql(self, statement: str) -> None:
        import psycopg

        dsn = f"postgresql://postgres@/postgres?host={self.directory}&port={self.port}"
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(statement.encode())


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    if not (PG_BIN / "initdb").exists():
        pytest.skip(f"PostgreSQL 15 binaries not found in {PG_BIN}")
    directory = Path(tempfile.mkdtemp(prefix="test-pg-outage-"))
    prefix: list[str] = []
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        os.chown(directory, user.pw_uid, user.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]
    initdb = [str(PG_BIN / "initdb"), "-D", str(directory / "data"), "-U", "postgres",
              "--auth-local=trust", "--auth-host=scram-sha-256"]  # fmt: skip
    subprocess.run([*prefix, *initdb], check=True, capture_output=True)
    c = Cluster(directory, free_port())
    c.start()
    try:
        yield c
    finally:
        subprocess.run(
            [*prefix, str(PG_BIN / "pg_ctl"), "-D", str(directory / "data"), "-m", "immediate",
             "stop"], check=False, capture_output=True,
        )  # fmt: skip
        shutil.rmtree(directory, ignore_errors=True)


def titles(webhook: WebhookReceiver) -> list[str]:
    return [str(p["json"].get("title", "")) for p in webhook.delivered()]


def test_the_database_away_is_told_directly_once_and_its_resolve_follows(
    cluster: Cluster, webhook: WebhookReceiver
) -> None:
    password = secrets.token_urlsafe(12)
    cluster.psql(f"CREATE ROLE {ROLE} LOGIN PASSWORD '{password}'")
    cluster.psql(f"CREATE DATABASE agent OWNER {ROLE}")
    database = AgentDatabase("postgresql", f"postgresql://{ROLE}@127.0.0.1:{cluster.port}/agent",
                             password)  # fmt: skip
    routing = RoutingSettings(route=Route(receivers=["hook"], group_by=["alertname"]))
    world = make_world(database.store(lock_timeout_s=5.0), webhook.url, routing)
    settings = DispatchSettings(tick_s=0.1, database_down_after_s=1.0)
    dispatcher = Dispatcher(DispatchStore(world.store), world.service, settings, routing)

    async def drill() -> None:
        dispatcher.tick()  # a good tick (the store migrated): it has read channels and routing
        dispatcher.start()
        try:
            await asyncio.sleep(0.3)
            cluster.stop()
            await asyncio.to_thread(
                wait_until, lambda: len(webhook.delivered()) >= 1, 20.0, "the outage alert"
            )
            await asyncio.sleep(1.5)  # still away, ticks still failing: told once only
            assert len(webhook.delivered()) == 1
            cluster.start()

            def resolve_delivered() -> bool:
                world.deliver()  # the delivery worker's part, in this thread
                return len(webhook.delivered()) >= 2

            await asyncio.to_thread(wait_until, resolve_delivered, 20.0, "the resolve", 0.1)
        finally:
            await dispatcher.stop()

    try:
        asyncio.run(drill())
        # The resolve is in the outbox's history, as any alert notification is.
        assert [n.channel for n in world.sent() if ALERTNAME in n.subject] == ["hook"]
    finally:
        database.close()
    first, second = titles(webhook)
    host = first.rsplit(" ", 1)[-1]
    assert first == f"[ERROR] {ALERTNAME} firing on {host}"
    assert second == f"[RESOLVED] {ALERTNAME} on {host}"
    text = str(webhook.delivered()[0]["json"]["message"])
    assert "database is unreachable" in text and password not in text


def test_a_short_outage_is_not_told() -> None:
    watch = DatabaseWatch(after_s=30.0)
    assert not watch.failed(100.0) and not watch.failed(129.9)
    assert watch.owed() is None
    watch.clear()  # back before 30 s: nothing was sent, nothing is owed
    assert not watch.failed(200.0) and watch.failed(230.0)
    watch.told(230.0)
    assert not watch.failed(260.0)  # once per outage
    assert watch.owed() == 200.0


def test_an_outage_from_the_start_has_no_channel_to_use(webhook: WebhookReceiver) -> None:
    """A dispatcher that never read its channels (the database away since the agent
    started: nothing listens on its port) cannot send: it says so and sends nothing."""
    routing = RoutingSettings(route=Route(receivers=["hook"]))
    url = f"postgresql://{ROLE}@127.0.0.1:{free_port()}/agent"
    database = AgentDatabase("postgresql", url, "unused")
    store = database.store(lock_timeout_s=1.0)
    secrets_ = SecretManager(EnvBackend(environ=dict), 300.0)
    service = NotificationService.build(NotificationSettings(), store, secrets_)
    dispatcher = Dispatcher(DispatchStore(store), service, DispatchSettings(), routing)
    try:
        with pytest.raises(DatabaseUnavailable):
            dispatcher.tick()
        assert dispatcher.database_away(1000.0) == []
        assert dispatcher.database_away(1031.0) == []
    finally:
        database.close()
    assert webhook.posts == []
