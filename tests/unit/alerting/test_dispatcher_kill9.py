"""The issue's drill on a real agent process: two alerts fire and are notified; the agent is
killed with SIGKILL; while it is down one alert resolves and another begins (written as the
evaluator writes them: durably, to the agent's database); the agent is started again. The
webhook receiver gets exactly: each firing once, the resolve once, the new alert once, and
the alert still firing is not re-notified (its repeat interval is an hour)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from appliance.alerting.dispatch.store import DispatchStore
from appliance.alerting.models import AlertLevel
from appliance.database.connect import open_sqlite
from appliance.notifications.models import Channel, Status
from appliance.notifications.outbox import HistoryQuery, Outbox
from tests.unit.alerting.dispatch_support import alert, resolved
from tests.unit.notifications.receivers import WebhookReceiver, free_port

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


def wait_for(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(what)
        time.sleep(0.05)


class Agent:
    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.log = workdir / "agent.log"
        (workdir / "agent.toml").write_text(CONFIG)
        self.env = {
            **os.environ,
            "APPLIANCE_CONFIG_FILE": str(workdir / "agent.toml"),
            "APPLIANCE_SQLITE_PATH": str(workdir / "agent.db"),
            "APPLIANCE_HOST": "127.0.0.1",
            "APPLIANCE_PORT": str(self.port),
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "api.main"],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=Path(__file__).parents[3],
            )
        wait_for(self._up, 60.0, "agent did not start")

    def _up(self) -> bool:
        try:
            url = f"http://127.0.0.1:{self.port}/health"
            return httpx.get(url, timeout=1.0).status_code in (200, 503)
        except httpx.HTTPError:
            return False

    def kill9(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)
        self.process = None


@pytest.fixture
def drill(tmp_path: Path) -> Iterator[tuple[Agent, DispatchStore, Outbox, WebhookReceiver]]:
    webhook = WebhookReceiver()
    store = open_sqlite(tmp_path / "agent.db")
    store.prepare()
    outbox = Outbox(store)
    outbox.put_channel(Channel("hook", "webhook", {"url": webhook.url}), create=True)
    agent = Agent(tmp_path)
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
    drill: tuple[Agent, DispatchStore, Outbox, WebhookReceiver],
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
