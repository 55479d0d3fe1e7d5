"""Channels the inventory no longer declares are removed (revision 0007 records which ones it
declared): at once when nothing is owed to them; otherwise kept, still delivering what they
owe, and removed once that is delivered or dead. API-made channels are never touched, and the
API may not change or delete a declared channel (409), which the next start would undo."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from appliance.database.schema import notifications
from appliance.notifications.declared import keep_declaring, sync_declared
from appliance.notifications.delivery import DeliveryWorker
from appliance.notifications.models import Channel, NotifyRequest, Status
from appliance.notifications.outbox import ChannelDeclared, Outbox, Planned, UnknownChannel
from appliance.notifications.settings import DeclaredChannel, NotificationSettings
from appliance.secrets import SecretManager
from appliance.secrets.env import EnvBackend
from tests.unit.api.conftest import Agent, agent_with  # noqa: F401 - fixture
from tests.unit.api.test_stepup_api import admin, enrol, totp_agent  # noqa: F401 - fixture
from tests.unit.conftest import AgentDatabase
from tests.unit.notifications.conftest import started_agent
from tests.unit.notifications.receivers import WebhookReceiver
from tests.unit.secrets.conftest import VaultLab, bao_binary, vault  # noqa: F401 - fixtures


def hook(name: str, url: str) -> DeclaredChannel:
    return DeclaredChannel.model_validate(
        {"name": name, "kind": "webhook", "options": {"url": url}}
    )


def owe(outbox: Outbox, channel: str, not_before: float | None = None) -> int:
    """One notification to ``channel``, pending (or held until ``not_before``)."""
    request = NotifyRequest(user_id="ops", subject="s", message="m")
    plan = [Planned(channel, None, not_before=not_before)]
    (nid,) = outbox.notify(request, plan, created_by="test").ids
    return nid


def names(outbox: Outbox) -> list[str]:
    return [c.name for c in outbox.channels()]


def test_dropped_declared_channels_go_and_api_channels_stay(agent_db: AgentDatabase) -> None:
    outbox = Outbox(agent_db.store())
    outbox.put_channel(Channel("admin-hook", "webhook", {"url": "http://h/x"}), create=True)
    first = sync_declared(outbox, [hook("a", "http://h/a"), hook("b", "http://h/b")])
    assert first.created == ["a", "b"] and first.removed == []
    assert {c.name: c.declared for c in outbox.channels()} == {
        "a": True,
        "admin-hook": False,
        "b": True,
    }

    second = sync_declared(outbox, [hook("b", "http://h/b")])
    assert second.removed == ["a"] and second.retiring == {} and second.unchanged == ["b"]
    assert names(outbox) == ["admin-hook", "b"]

    assert sync_declared(outbox, []).removed == ["b"]
    assert names(outbox) == ["admin-hook"]


def test_an_api_channel_of_a_declared_name_becomes_the_inventorys(
    agent_db: AgentDatabase,
) -> None:
    """The inventory wins on its names; dropped from it later, the channel goes with it."""
    outbox = Outbox(agent_db.store())
    outbox.put_channel(Channel("a", "webhook", {"url": "http://h/a"}), create=True)
    assert sync_declared(outbox, [hook("a", "http://h/a")]).replaced == ["a"]
    assert outbox.channel("a").declared
    assert sync_declared(outbox, []).removed == ["a"]


def test_a_channel_owing_notifications_stays_delivers_them_then_goes(
    agent_db: AgentDatabase, webhook: WebhookReceiver
) -> None:
    outbox = Outbox(agent_db.store())
    sync_declared(outbox, [hook("a", webhook.url)])
    pending = owe(outbox, "a")
    held = owe(outbox, "a", not_before=outbox_now() + 3600)  # quiet hours

    report = sync_declared(outbox, [])
    assert report.removed == [] and report.retiring == {"a": 2}
    kept = outbox.channel("a")
    assert kept.declared and kept.enabled  # as it was: it goes on delivering

    worker = DeliveryWorker(outbox, SecretManager(EnvBackend(), 300.0), NotificationSettings())
    for item in outbox.claim(10, 60.0):
        worker.deliver(item)
    assert (got := outbox.get(pending)) is not None and got.status is Status.DELIVERED
    assert len(webhook.delivered()) == 1
    assert outbox.retire_channels(set()) == ([], {"a": 1})  # the held one is still owed

    release_held(agent_db, held)
    for item in outbox.claim(10, 60.0):
        worker.deliver(item)
    assert outbox.retire_channels(set()) == (["a"], {})
    assert names(outbox) == []
    # The history keeps both, by the channel's name.
    assert all((n := outbox.get(i)) and n.channel == "a" for i in (pending, held))


def outbox_now() -> float:
    return time.time()


def release_held(db: AgentDatabase, nid: int) -> None:
    """Quiet hours over for one notification (what the worker's claim then picks up)."""
    engine = db.engine()
    with engine.begin() as c:
        c.execute(
            update(notifications)
            .where(notifications.c.id == nid)
            .values(status="pending", next_attempt_at=0.0)
        )


def test_a_dead_notification_is_not_owed(agent_db: AgentDatabase) -> None:
    outbox = Outbox(agent_db.store())
    sync_declared(outbox, [hook("a", "http://127.0.0.1:9/x")])
    owe(outbox, "a")
    settings = NotificationSettings(dead_after_s=1.0)
    worker = DeliveryWorker(
        outbox, SecretManager(EnvBackend(), 300.0), settings, clock=lambda: outbox_now() + 10
    )
    for item in outbox.claim(10, 60.0):
        worker.deliver(item)  # port 9 refuses; past dead_after_s: dead
    assert sync_declared(outbox, []).removed == ["a"]


def test_the_outbox_refuses_to_change_or_delete_a_declared_channel(
    agent_db: AgentDatabase,
) -> None:
    outbox = Outbox(agent_db.store())
    sync_declared(outbox, [hook("a", "http://h/a")])
    edited = Channel("a", "webhook", {"url": "http://h/other"}, enabled=False)
    with pytest.raises(ChannelDeclared, match="declared in the inventory"):
        outbox.put_channel(edited, create=False)
    with pytest.raises(ChannelDeclared):
        outbox.delete_channel("a")
    assert outbox.channel("a").options == {"url": "http://h/a"}
    with pytest.raises(UnknownChannel):
        outbox.delete_channel("nope")


def test_keep_declaring_retires_a_channel_once_its_notifications_are_delivered(
    agent_db: AgentDatabase, webhook: WebhookReceiver
) -> None:
    outbox = Outbox(agent_db.store())
    sync_declared(outbox, [hook("a", webhook.url)])
    owe(outbox, "a")
    worker = DeliveryWorker(outbox, SecretManager(EnvBackend(), 300.0), NotificationSettings())

    async def run() -> list[str]:
        task = asyncio.create_task(keep_declaring(outbox, [], retire_every_s=0.05))
        await asyncio.sleep(0.2)
        assert not task.done() and names(outbox) == ["a"]  # owed one: kept
        for item in await asyncio.to_thread(outbox.claim, 10, 60.0):
            await asyncio.to_thread(worker.deliver, item)
        report = await asyncio.wait_for(task, 10)
        assert report.retiring == {"a": 1}
        return names(outbox)

    assert asyncio.run(run()) == []
    assert len(webhook.delivered()) == 1


def test_the_agent_removes_channels_dropped_from_its_configuration_at_start(
    tmp_path: Path,
) -> None:
    """Also when the configuration now declares none at all."""

    def start(channels: list[dict[str, Any]]) -> list[str]:
        agent = started_agent(tmp_path / "agent.db", channels)
        assert agent.notifications is not None
        if not channels:
            agent.notifications.outbox.put_channel(
                Channel("admin", "webhook", {"url": "http://h/"}), create=True
            )
        found = names(agent.notifications.outbox)
        asyncio.run(agent.stop())
        return found

    a = {"name": "a", "kind": "webhook", "options": {"url": "http://h/a"}}
    b = {"name": "b", "kind": "webhook", "options": {"url": "http://h/b"}}
    assert start([a, b]) == ["a", "b"]
    assert start([b]) == ["b"]
    assert start([]) == ["admin"]
    assert start([a]) == ["a", "admin"]


def test_the_api_answers_409_for_a_declared_channel_and_lists_it_as_declared(
    totp_agent: Callable[..., Agent],  # noqa: F811
    vault: VaultLab,  # noqa: F811
) -> None:
    agent = totp_agent()
    assert agent.runtime.notifications is not None
    sync_declared(agent.runtime.notifications.outbox, [hook("pager", "http://h/p")])
    name, token = admin(agent)
    otp = enrol(agent, vault, name, token)
    r = agent.send("POST", "/api/auth/step-up", token=token, json={"code": otp.now()})
    step_up = {"X-Step-Up": r.json()["grant"]}
    body = {"name": "pager", "kind": "webhook", "options": {"url": "http://h/q"}}
    url = "/api/notifications/channels/pager"
    r = agent.send("PUT", url, token=token, headers=step_up, json=body)
    assert r.status_code == 409, r.text
    assert "agent.notifications.channels" in r.json()["error"]["reason"]
    r = agent.send("DELETE", url, token=token, headers=step_up)
    assert r.status_code == 409, r.text
    listed = agent.client.get("/api/notifications/channels").json()["channels"]
    assert [(c["name"], c["declared"], c["options"]) for c in listed] == [
        ("pager", True, {"url": "http://h/p"})
    ]
    # An admin's own channel is theirs to change.
    own = {"name": "mine", "kind": "webhook", "options": {"url": "http://h/m"}}
    r = agent.send("POST", "/api/notifications/channels", token=token, headers=step_up, json=own)
    assert r.status_code == 201 and r.json()["declared"] is False
    r = agent.send("DELETE", "/api/notifications/channels/mine", token=token, headers=step_up)
    assert r.status_code == 200, r.text
