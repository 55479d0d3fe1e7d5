"""Channels declared in the inventory (``agent.notifications.channels``): validated in the host
spec naming the field, rendered into agent.toml without any credential, and made to exist by
the agent at start (upserted; channels an admin made through the API are left alone; removal
of dropped ones: test_declared_removal.py)."""

from __future__ import annotations

import asyncio
import os
import tomllib
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from appliance.notifications.declared import sync_declared
from appliance.notifications.models import Channel
from appliance.notifications.outbox import Outbox
from appliance.notifications.settings import DeclaredChannel, NotificationSettings
from appliance.runtime import AgentRuntime
from appliance.secrets import SecretManager
from appliance.secrets.env import EnvBackend
from roles.agent.config import config_text
from roles.settings import RoleSettingsError
from roles.spec import parse_host_spec
from tests.unit.agent.factories import FakeCollector, make_settings, snapshot
from tests.unit.conftest import AgentDatabase
from tests.unit.notifications.conftest import no_zfs, started_agent

EMAIL: dict[str, Any] = {
    "name": "email",
    "kind": "email",
    "options": {"host": "127.0.0.1", "port": 25, "tls": "none", "from": "appliance@lab.test"},
}
PAGER: dict[str, Any] = {
    "name": "pager",
    "kind": "pagerduty",
    "options": {"region": "eu"},
    "secret": "agent/pd",
}
DISKS = [f"/dev/disk/by-id/d{n}" for n in range(6)]


def host(tmp_path: Path, channels: list[dict[str, Any]], vault: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {
        "ssh_hostname": "192.0.2.1",
        "storage": {"disks": DISKS},
        "agent": {"notifications": {"channels": channels}},
    }
    if vault:
        data["vault"] = {"controller_dir": str(tmp_path / "vault")}
    return data


def test_declared_channels_are_rendered_into_agent_toml_with_secret_names_only(
    tmp_path: Path,
) -> None:
    spec = parse_host_spec("h1", host(tmp_path, [EMAIL, PAGER], vault=True))
    config = tomllib.loads(config_text(spec))
    channels = config["notifications"]["channels"]
    assert [c["name"] for c in channels] == ["email", "pager"]
    assert channels[0]["options"]["host"] == "127.0.0.1" and "secret" not in channels[0]
    assert channels[1]["secret"] == "agent/pd"
    # The agent's own model reads back what the role rendered.
    assert NotificationSettings(**config["notifications"]).channels[1].kind == "pagerduty"


@pytest.mark.parametrize(
    ("channel", "field", "says"),
    [
        ({**PAGER, "options": {"api_key": "x"}}, "channels.0", "are credentials"),
        ({**EMAIL, "options": {"host": "h"}}, "channels.0", "needs option(s) from"),
        ({**PAGER, "secret": None}, "channels.0", "needs a secret"),
        ({**PAGER, "kind": "fax"}, "channels.0.kind", "Input should be"),
        ({**PAGER, "secret": "../x"}, "channels.0.secret", "invalid secret name"),
        ({**PAGER, "name": "no spaces"}, "channels.0.name", "should match"),
        (
            {"name": "hook", "kind": "webhook", "options": {"url": "https://u:p@h/x"}},
            "channels.0",
            "must not hold credentials",
        ),
    ],
)
def test_a_bad_declared_channel_names_the_field(
    tmp_path: Path, channel: dict[str, Any], field: str, says: str
) -> None:
    with pytest.raises(RoleSettingsError) as err:
        parse_host_spec("h1", host(tmp_path, [channel]))
    assert f"agent.notifications.{field}:" in str(err.value) and says in str(err.value)
    assert "u:p" not in str(err.value)  # a bad value is not echoed back


def test_a_channel_secret_outside_the_agents_vault_policy_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RoleSettingsError, match=r"channels\.0\.secret: the agent's Vault"):
        parse_host_spec("h1", host(tmp_path, [{**PAGER, "secret": "postgres/sovereign"}], True))


def test_a_name_declared_twice_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RoleSettingsError, match="declared twice: email"):
        parse_host_spec("h1", host(tmp_path, [EMAIL, EMAIL]))


def test_channels_are_declared_in_one_place(tmp_path: Path) -> None:
    data = host(tmp_path, [])
    data["agent"]["config"] = {"notifications": {"channels": [EMAIL]}}
    with pytest.raises(RoleSettingsError, match=r"agent\.config: .*agent\.notifications\.channels"):
        parse_host_spec("h1", data)


def test_sync_creates_replaces_and_leaves_api_channels_alone(agent_db: AgentDatabase) -> None:
    outbox = Outbox(agent_db.store())
    admin_made = outbox.put_channel(
        Channel("ops-hook", "webhook", {"url": "http://h/x"}), create=True
    )
    email = DeclaredChannel.model_validate(EMAIL)
    first = sync_declared(outbox, [email])
    assert first.created == ["email"] and not first.replaced
    assert sync_declared(outbox, [email]).unchanged == ["email"]

    moved = DeclaredChannel.model_validate({**EMAIL, "options": {**EMAIL["options"], "port": 2525}})
    assert sync_declared(outbox, [moved]).replaced == ["email"]
    assert outbox.channel("email").options["port"] == 2525
    assert outbox.channel("ops-hook") == admin_made  # untouched, also by dropping declarations
    # Dropped from the inventory: the declared one goes (test_declared_removal.py), not the
    # admin's.
    assert sync_declared(outbox, []).removed == ["email"]
    assert {c.name for c in outbox.channels()} == {"ops-hook"}


def test_the_agent_declares_its_channels_at_start(tmp_path: Path) -> None:
    agent = started_agent(tmp_path / "agent.db", [EMAIL])
    assert agent.notifications is not None
    assert [c.name for c in agent.notifications.outbox.channels()] == ["email"]
    agent.notifications.outbox.put_channel(
        Channel("chat", "webhook", {"url": "http://h/"}), create=True
    )
    asyncio.run(agent.stop())

    again = started_agent(tmp_path / "agent.db", [EMAIL, PAGER])
    assert again.notifications is not None
    assert [c.name for c in again.notifications.outbox.channels()] == ["chat", "email", "pager"]
    asyncio.run(again.stop())


def test_declared_channel_model_refuses_unknown_keys() -> None:
    with pytest.raises(ValidationError, match="password"):
        DeclaredChannel.model_validate({**EMAIL, "password": "x"})


def test_the_agent_trusts_the_configured_ca_bundle_for_its_channels(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"):
        monkeypatch.setenv(name, "")  # restored after the test
    bundle = tmp_path / "bundle.pem"
    AgentRuntime.build(
        make_settings(notifications={"ca_bundle": str(bundle)}),
        collect=FakeCollector(snapshot(ts=1000.0)).collect,
        zfs_backend=no_zfs,
        secrets=SecretManager(EnvBackend(), 300),
    )
    assert os.environ["REQUESTS_CA_BUNDLE"] == os.environ["SSL_CERT_FILE"] == str(bundle)


def test_a_relative_ca_bundle_is_refused() -> None:
    with pytest.raises(ValidationError, match="absolute path"):
        NotificationSettings(ca_bundle=Path("certs/ca.pem"))
