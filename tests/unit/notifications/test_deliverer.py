"""The delivery worker in its own process (appliance/notifications/deliverer.py).

First the agent's side on its own, with a small child that speaks the same pipes (wake bytes
in, ids out), then a real agent process (`python -m api.main`) whose child delivers to a
webhook receiver: the child is restarted when it dies, and goes when the agent is killed."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from appliance.database.connect import open_sqlite
from appliance.database.repository import Store
from appliance.notifications.deliverer import MODULE, DeliveryProcess
from appliance.notifications.models import Channel, Status
from appliance.notifications.outbox import Outbox
from appliance.security.roles import Role
from appliance.security.tokens import TokenService
from tests.unit.agent_process import AgentProcess, wait_for
from tests.unit.notifications.receivers import WebhookReceiver

# Reports one id at start, then counts the wake-up bytes it reads into a file; ends at EOF.
CHILD = """
import os, sys
sys.stdout.write("41\\n"); sys.stdout.write("not an id\\n"); sys.stdout.write("42\\n")
sys.stdout.flush()
seen = 0
while chunk := os.read(0, 4096):
    seen += len(chunk)
    open(sys.argv[1], "w").write(str(seen))
open(sys.argv[1] + ".eof", "w").write("eof")
"""


def woken(path: Path) -> int:
    try:
        return int(path.read_text() or 0)
    except (FileNotFoundError, ValueError):
        return 0


def test_the_agent_side_wakes_reads_ids_restarts_and_stops_its_child(tmp_path: Path) -> None:
    counter = tmp_path / "woken"
    ids: list[int] = []

    async def drill() -> None:
        process = DeliveryProcess(ids.append, [sys.executable, "-c", CHILD, str(counter)])
        process.start()
        # The start wakes it once (work left by a previous child), and so does each notify.
        for _ in range(3):
            process.wake()
        await asyncio.to_thread(wait_for, lambda: woken(counter) == 4, 10, "not woken 4 times")
        assert ids == [41, 42]  # lines that are not ids are skipped
        first = process.pid
        assert first is not None
        os.kill(first, signal.SIGKILL)
        await asyncio.to_thread(
            wait_for, lambda: process.starts == 2, 10, "the killed child was not restarted"
        )
        assert process.pid not in (None, first)
        await asyncio.to_thread(wait_for, lambda: ids == [41, 42, 41, 42], 10, "no ids")
        await process.stop()
        assert process.pid is None

    asyncio.run(drill())
    # Stopping closed its pipe: it saw the end of file and finished by itself.
    assert (tmp_path / "woken.eof").exists()


def test_wake_without_a_child_does_nothing() -> None:
    DeliveryProcess(lambda nid: None).wake()  # not started: no pipe, no error


def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def deliverers(pid: int) -> list[int]:
    """The agent's children that run the delivery module."""
    found = []
    for child in children(pid):
        try:
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if MODULE.encode() in cmdline:
            found.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


Drill = tuple[AgentProcess, str, WebhookReceiver, Outbox, Store]


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[Drill]:
    store = open_sqlite(tmp_path / "agent.db")
    store.prepare()
    token = TokenService(store).create("t", Role.OPERATOR, created_by="test").secret
    webhook = WebhookReceiver()
    outbox = Outbox(store)
    outbox.put_channel(Channel("hook", "webhook", {"url": webhook.url}), create=True)
    # Every trace kept, batches written each 0.2 s: the child's delivery spans are looked for.
    env = {"APPLIANCE_TRACING__SAMPLE_RATIO": "1", "APPLIANCE_TRACING__BATCH_DELAY_S": "0.2"}
    agent = AgentProcess(tmp_path, env=env)
    yield agent, token, webhook, outbox, store
    if agent.process is not None:
        agent.kill9()
    webhook.close()
    store.close()
    if agent.log.exists():
        print(agent.log.read_text()[-3000:])


def notify(agent: AgentProcess, token: str, subject: str) -> int:
    response = httpx.post(
        f"{agent.url}/api/notifications/notify",
        headers={"Authorization": f"Bearer {token}"},
        json={"user_id": "u", "channel": "hook", "subject": subject, "message": "m"},
        timeout=10.0,
    )
    assert response.status_code == 202, response.text
    return int(response.json()["ids"][0])


def is_delivered(outbox: Outbox, nid: int) -> bool:
    item = outbox.get(nid)
    return item is not None and item.status is Status.DELIVERED


def span_names(store: Store) -> set[str]:
    with store.engine.connect() as c:
        return {str(name) for (name,) in c.execute(text("SELECT name FROM spans"))}


def subjects(webhook: WebhookReceiver) -> list[str]:
    return [str(p["json"].get("title")) for p in webhook.delivered()]


def test_a_real_agent_delivers_from_its_child_and_restarts_it(
    agent: Drill,
) -> None:
    process, token, webhook, outbox, store = agent
    process.start()
    assert process.process is not None
    pid = process.process.pid
    wait_for(lambda: len(deliverers(pid)) == 1, 30, "the agent started no delivery process")
    (child,) = deliverers(pid)

    first = notify(process, token, "first")
    wait_for(lambda: "first" in subjects(webhook), 30, "not delivered by the child")
    # Killed only once its outcome is committed: else it is rightly sent again (the
    # at-least-once window, test_crash.py), and the count below would not be one.
    wait_for(lambda: is_delivered(outbox, first), 30, "delivery not recorded")
    # The child traces its sends into the agent's store, like the agent's own spans.
    wait_for(lambda: "notify webhook" in span_names(store), 30, "no span of the child's send")
    # Background work: every thread of the child (its sends' too) runs 10 below the agent, as
    # batch work (Linux keeps both per thread; threads made after the child's start inherit).
    below = min(19, os.getpriority(os.PRIO_PROCESS, pid) + 10)
    threads = list(Path(f"/proc/{child}/task").iterdir())
    assert len(threads) > 1
    for task in threads:
        try:
            assert os.getpriority(os.PRIO_PROCESS, int(task.name)) == below, task.name
            assert os.sched_getscheduler(int(task.name)) == os.SCHED_BATCH, task.name
        except ProcessLookupError:  # a thread that finished meanwhile
            continue

    os.kill(child, signal.SIGKILL)
    wait_for(lambda: deliverers(pid) not in ([], [child]), 30, "the killed child was not replaced")
    notify(process, token, "second")
    wait_for(lambda: "second" in subjects(webhook), 30, "not delivered after the restart")
    assert subjects(webhook).count("first") == 1
    (replacement,) = deliverers(pid)

    # The agent killed with SIGKILL: its child sees its pipe close and goes too, so no
    # orphan keeps delivering beside the next agent.
    process.kill9()
    deadline = time.monotonic() + 10
    while alive(replacement) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(replacement), "the delivery process outlived the agent"
