"""The issue's drill on a real agent process: two alerts fire and are notified; the agent is
killed with SIGKILL; while it is down one alert resolves and another begins (written as the
evaluator writes them: durably, to the agent's database); the agent is started again. The
webhook receiver gets exactly: each firing once, the resolve once, the new alert once, and
the alert still firing is not re-notified (its repeat interval is an hour)."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance.alerting.dispatch.store import DispatchStore
from appliance.alerting.models import AlertLevel
from appliance.database.connect import open_sqlite
from appliance.notifications.models import Channel, Status
from appliance.notifications.outbox import HistoryQuery, Outbox
from tests.unit.agent_process import AgentProcess, wait_for
from tests.unit.alerting.dispatch_support import alert, resolved
from tests.unit.notifications.receivers import WebhookReceiver

CONFIG = """
[alerting.evaluation]
enabled = false             # only the drill's alerts, none of the host's own

[alerting.dispatch]
tick_s = 0.1

[alerting.routing]
group_wait_s = 0.0
group_interval_s = 0.5
repeat_interval_s = 3600.0

[alerting.routing.route]
receivers = ["hook"]
group_by = ["..."]          # every alert its own group
"""


@pytest.fixture
def drill(tmp_path: Path) -> Iterator[tuple[AgentProcess, DispatchStore, Outbox, WebhookReceiver]]:
    webhook = WebhookReceiver()
    store = open_sqlite(tmp_path / "agent.db")
    store.prepare()
    outbox = Outbox(store)
    outbox.put_channel(Channel("hook", "webhook", {"url": webhook.url}), create=True)
    agent = AgentProcess(tmp_path, config=CONFIG)
    yield agent, DispatchStore(store), outbox, webhook
    if agent.process is not None:
        agent.kill9()
    webhook.close()
    store.close()
    if agent.log.exists():
        print(agent.log.read_text()[-3000:])


def delivered(outbox: Outbox) -> int:
    items, _ = outbox.history(HistoryQuery(status=Status.DELIVERED))
    return len(items)


def titles(webhook: WebhookReceiver) -> Counter[str]:
    return Counter(str(p["json"]["title"]) for p in webhook.delivered())


def test_kill_9_while_one_alert_fires_and_another_resolves(
    drill: tuple[AgentProcess, DispatchStore, Outbox, WebhookReceiver],
) -> None:
    agent, alerts, outbox, webhook = drill
    stays, ends = alert("StaysFiring"), alert("EndsWhileDown", AlertLevel.ERROR)
    agent.start()
    alerts.upsert(stays, time.time())
    alerts.upsert(ends, time.time())
    # Killed once both are recorded as delivered: a kill between the receiver's answer and
    # that record is the outbox's at-least-once window (tests/unit/notifications), not ours.
    wait_for(lambda: delivered(outbox) == 2, 60.0, "the two firing alerts not delivered")
    assert len(webhook.delivered()) == 2
    agent.kill9()

    alerts.upsert(resolved(ends, time.time()), time.time())  # ended while down
    begins = alert("BeginsWhileDown", AlertLevel.CRITICAL, starts_at=time.time())
    alerts.upsert(begins, time.time())  # began while down
    alerts.upsert(stays, time.time())  # still firing: the evaluator says so again
    agent.start()
    wait_for(lambda: len(webhook.delivered()) >= 4, 60.0, "resolve and new alert not sent")
    time.sleep(2.0)  # many ticks and group intervals: nothing more may come
    assert titles(webhook) == {
        "[WARNING] StaysFiring firing on appliance": 1,
        "[ERROR] EndsWhileDown firing on appliance": 1,
        "[RESOLVED] EndsWhileDown on appliance": 1,
        "[CRITICAL] BeginsWhileDown firing on appliance": 1,
    }
