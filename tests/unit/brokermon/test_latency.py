"""The end-to-end latency monitor on a real broker (tansu) and the agent's database on a real
PostgreSQL: probes go through the event bus and are committed to latency_probes; a lock held
on that table pushes the figure above 200 ms while it is held and the built-in alert fires;
retention prunes by age and count."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import func, insert, select

from appliance.alerting.builtin import builtin_rules
from appliance.alerting.evaluation import evaluate_rule
from appliance.alerting.models import AlertStatus
from appliance.alerting.sources import Facts
from appliance.brokermon.checks import LatencyCheck
from appliance.brokermon.facts import latency_facts
from appliance.brokermon.latency import LatencyMonitor, get_average_latency, set_latency_monitor
from appliance.brokermon.service import BrokerMonitors
from appliance.brokermon.settings import LatencyMonitorSettings
from appliance.database.repository import Store
from appliance.database.schema_latency import latency_probes
from appliance.events import EventBus, EventBusSettings
from appliance.health.models import ServiceStatus
from tests.support import PostgresServer, wait_until
from tests.unit.conftest import AgentDatabase, new_agent_database


@pytest.fixture
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[AgentDatabase]:
    db = new_agent_database(request, "postgresql", tmp_path)
    yield db
    db.close()


@pytest.fixture
def store(database: AgentDatabase) -> Store:
    store = database.store()
    store.prepare()
    return store


def bus_settings(bootstrap: str, tmp_path: Path) -> EventBusSettings:
    return EventBusSettings.model_validate(
        {
            "bootstrap_servers": bootstrap,
            "outbox_path": tmp_path / "events.db",
            "session_timeout_ms": 2000,
            "metadata_timeout_s": 0.5,
        }
    )


def rows(store: Store) -> int:
    return int(store.run(lambda c: c.execute(select(func.count()).select_from(latency_probes))
                         .scalar_one()))  # fmt: skip


def probe_once(monitor: LatencyMonitor, committed: int) -> None:
    monitor.publish_once()
    wait_until(lambda: monitor.stats().count >= committed, 20, f"{committed} committed probes")


def test_probes_are_committed_and_measured(bootstrap: str, store: Store, tmp_path: Path) -> None:
    monitor = LatencyMonitor(LatencyMonitorSettings(window_s=120), store)
    with EventBus(bus_settings(bootstrap, tmp_path)) as bus:
        assert monitor.attach(bus).wait_assigned(20)
        for n in range(1, 6):
            probe_once(monitor, n)
        st = monitor.stats()
    assert (st.count, st.pending, st.lost) == (5, 0, 0)
    assert st.p50_ms is not None and st.p99_ms is not None and st.max_ms is not None
    assert 0 < st.p50_ms <= st.p95_ms <= st.p99_ms <= st.max_ms  # type: ignore[operator]
    print(f"ingest→commit on a loaded machine: p50 {st.p50_ms} ms, p99 {st.p99_ms} ms")
    assert rows(store) == 5
    agents = store.run(lambda c: c.execute(select(latency_probes.c.agent).distinct()).all())
    assert [a for (a,) in agents] == [monitor.instance]
    set_latency_monitor(monitor)
    try:
        assert get_average_latency() == st.avg_ms
    finally:
        set_latency_monitor(None)
    assert get_average_latency() is None


def test_a_lock_on_the_probe_table_raises_the_figure_and_fires_the_alert(
    bootstrap: str, store: Store, database: AgentDatabase, postgres_server: PostgresServer,
    tmp_path: Path,
) -> None:  # fmt: skip
    monitor = LatencyMonitor(LatencyMonitorSettings(window_s=120), store)
    rule = next(r for r in builtin_rules() if r.id == "builtin-e2e-latency")
    assert (rule.metric, rule.condition, rule.threshold) == ("e2e_latency_p99_ms", ">", 200)
    dbname = database.location.rsplit("/", 1)[1]
    with EventBus(bus_settings(bootstrap, tmp_path)) as bus:
        assert monitor.attach(bus).wait_assigned(20)
        probe_once(monitor, 1)
        assert asyncio.run(LatencyCheck(monitor).probe()).status is ServiceStatus.UP
        with psycopg.connect(postgres_server.superuser_dsn(dbname)) as locker:
            locker.execute("LOCK TABLE latency_probes IN ACCESS EXCLUSIVE MODE")
            held = time.monotonic()
            monitor.publish_once()
            wait_until(lambda: (monitor.stats().p99_ms or 0) > 200, 10, "p99 above 200 ms")
            facts: Facts = {}
            latency_facts(monitor.stats(), facts)
            outcome = evaluate_rule(rule, facts[rule.metric], {}, time.time())
            assert [s.status for s in outcome.changed] == [AlertStatus.FIRING]
            assert outcome.alerts and outcome.alerts[0].labels["alertname"] == "E2ELatencyHigh"
            check = asyncio.run(LatencyCheck(monitor).probe())
            assert check.status is ServiceStatus.DEGRADED and "p99" in check.message
            assert monitor.stats().count == 1  # still waiting on the lock
            time.sleep(max(0.0, 0.5 - (time.monotonic() - held)))
            locker.rollback()  # the lock goes: the probe commits
        wait_until(lambda: monitor.stats().count == 2, 20, "the blocked probe's commit")
    st = monitor.stats()
    assert st.pending == 0 and st.last_ms is not None and st.last_ms >= 500
    assert rows(store) == 2


def test_retention_by_age_and_by_count(store: Store) -> None:
    settings = LatencyMonitorSettings(retention_s=3600, max_rows=10)
    monitor = LatencyMonitor(settings, store)
    now = time.time()
    old = [now - 7200 - i for i in range(5)]
    recent = [now - i for i in range(15)]
    store.run(lambda c: c.execute(insert(latency_probes), [
        {"probe_id": uuid.uuid4().hex, "agent": "a", "seq": i, "published_at": at,
         "received_at": at} for i, at in enumerate(old + recent)
    ]))  # fmt: skip
    assert monitor.prune(now) == 5 + 5
    kept = store.run(lambda c: c.execute(select(latency_probes.c.published_at)).scalars().all())
    assert sorted(kept) == sorted(recent)[-10:]


def test_a_redelivered_probe_is_committed_once(store: Store) -> None:
    from datetime import UTC, datetime

    from appliance.events import BusEvent

    monitor = LatencyMonitor(LatencyMonitorSettings(), store)
    event = BusEvent(
        id=uuid.uuid4(), topic="sovereign.latency-probe", key=None, schema_version=1,
        created_at=datetime.now(UTC), payload={"probe": "x-1", "agent": "x", "seq": 1},
    )  # fmt: skip
    monitor.handle(event)
    monitor.handle(event)
    assert rows(store) == 1
    assert monitor.stats().count == 0  # another instance's probe: committed, not measured


def test_the_agents_loop_probes_once_its_partition_is_assigned(
    bootstrap: str, store: Store, tmp_path: Path
) -> None:
    latency = LatencyMonitor(LatencyMonitorSettings(interval_s=0.2), store)
    monitors = BrokerMonitors(None, latency)

    async def run() -> None:
        with EventBus(bus_settings(bootstrap, tmp_path)) as bus:
            monitors.start(bus)  # returns at once: attaching and probing happen in the task
            try:
                deadline = time.monotonic() + 30
                while latency.stats().count < 3:
                    assert time.monotonic() < deadline, latency.stats()
                    await asyncio.sleep(0.1)
                assert get_average_latency() is not None
            finally:
                await monitors.stop()
        assert get_average_latency() is None

    asyncio.run(run())
    st = latency.stats()
    # Nothing was published while the group was joining (it would have counted as latency).
    assert st.lost == 0 and st.max_ms is not None and st.max_ms < 5000, st
