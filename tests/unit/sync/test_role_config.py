"""The host's `sync` section: validated once in the host spec, rendered into agent.toml's
[sync] (roles/agent/sync.py, roles/agent/config.py), pure."""

from __future__ import annotations

import tomllib
from typing import Any

import pytest

from appliance.config import validate_config
from appliance.sync import crypto
from roles.agent.config import config_text
from roles.agent.facts import parse_sync_identity
from roles.settings import RoleSettingsError
from roles.spec import HostSpec, parse_host_spec

DISKS = {"storage": {"disks": [f"/dev/disk/by-id/d{n}" for n in range(6)]}}
OPERATOR = crypto.recipient_of(crypto.new_identity())
OTHER = crypto.recipient_of(crypto.new_identity())
SYNC = {"url": "https://cloud.example.org", "user": "appliance"}


def host(data: dict[str, Any]) -> HostSpec:
    return parse_host_spec("h", {**DISKS, "ssh_hostname": "10.0.0.5", **data})


def rendered(data: dict[str, Any]) -> dict[str, Any]:
    return tomllib.loads(config_text(host(data)))


def refusal(data: dict[str, Any]) -> str:
    with pytest.raises(RoleSettingsError) as caught:
        host(data)
    return str(caught.value)


def test_no_sync_section_renders_no_sync_table() -> None:
    assert "sync" not in rendered({"vault": {"operator_age_recipients": [OPERATOR]}})


def test_sync_defaults_to_the_operators_vault_recipients() -> None:
    data = rendered({"vault": {"operator_age_recipients": [OPERATOR]}, "sync": SYNC})
    table = data["sync"]
    assert table["enabled"] is True
    assert (table["url"], table["user"], table["remote_root"]) == (
        "https://cloud.example.org", "appliance", "sovereign-sync",
    )  # fmt: skip
    assert table["recipients"] == [OPERATOR]
    # Credentials are names of Vault secrets the agent may read, never values.
    settings = validate_config(data).sync
    assert settings.password_secret == "agent/sync/nextcloud"
    assert settings.identity_secret == "agent/sync/identity"
    assert "AGE-SECRET-KEY" not in config_text(host({"vault": {}, "sync": {
        **SYNC, "recipients": [OPERATOR]}}))  # fmt: skip


def test_declared_recipients_replace_the_vault_ones() -> None:
    data = rendered({
        "vault": {"operator_age_recipients": [OPERATOR]},
        "sync": {**SYNC, "recipients": [OTHER], "remote_root": "/appliance/docs/"},
    })  # fmt: skip
    assert data["sync"]["recipients"] == [OTHER]
    assert data["sync"]["remote_root"] == "appliance/docs"


def test_sync_without_any_operator_recipient_is_refused_at_preflight() -> None:
    message = refusal({"vault": {}, "sync": SYNC})
    assert "no operator age recipient" in message and "host h" in message


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("url", "http://cloud.example.org", "https"),
        ("url", "cloud.example.org", "https"),
        ("url", "https://u:p@cloud.example.org", "credentials"),
        ("user", "", "user"),
        ("user", "a/b", "user"),
        ("remote_root", "../up", "remote_root"),
        ("recipients", ["age1short"], "recipient"),
        ("watch", [{"path": "relative/docs"}], "absolute"),
        ("watch", [{"path": "/home/op/docs"}], "hides"),
        ("options", {"url": "https://elsewhere.example"}, "sync.options"),
        ("options", {"spool_dir": "/srv/spool"}, "/var/lib/sovereign"),
        ("options", {"chunk_size": 1024}, "chunk_size"),
        ("options", {"no_such_knob": 1}, "no_such_knob"),
    ],
)
def test_bad_sync_fields_are_named(field: str, value: object, says: str) -> None:
    message = refusal({"vault": {"operator_age_recipients": [OPERATOR]},
                       "sync": {**SYNC, field: value}})  # fmt: skip
    assert says in message and "sync" in message


def test_sync_is_not_declared_through_agent_config() -> None:
    message = refusal({"vault": {"operator_age_recipients": [OPERATOR]},
                       "agent": {"config": {"sync": {"enabled": True}}}})  # fmt: skip
    assert "`sync` section" in message


def test_watched_folders_and_options_are_rendered() -> None:
    data = rendered({
        "vault": {"operator_age_recipients": [OPERATOR]},
        "sync": {
            **SYNC,
            "watch": [{"path": "/srv/scans", "pattern": "*.pdf"}, {"path": "/srv/contracts"}],
            "options": {"scan_interval_s": 30, "max_attempts": 20,
                        "ca_bundle": "/etc/ssl/certs/ca-certificates.crt"},
        },
    })  # fmt: skip
    table = data["sync"]
    assert table["watch"] == [
        {"path": "/srv/scans", "pattern": "*.pdf"}, {"path": "/srv/contracts", "pattern": "*"},
    ]  # fmt: skip
    settings = validate_config(data).sync
    assert settings.scan_interval_s == 30 and settings.max_attempts == 20
    assert [str(w.path) for w in settings.watch] == ["/srv/scans", "/srv/contracts"]


@pytest.mark.parametrize(
    ("output", "state"),
    [
        (["present age1" + "q" * 58], "present"),
        (["created age1" + "q" * 58], "present"),
        (["absent"], "absent"),
        (["disabled"], "disabled"),
        (["uninstalled"], "uninstalled"),
        (["error SecretUnavailable: agent/sync/identity: vault sealed"], "error"),
        (["Traceback (most recent call last):", "  …", "KeyError: 'x'"], "error"),
        ([], "error"),
    ],
)
def test_the_sync_identity_fact_is_parsed_from_the_host_clis_last_line(
    output: list[str], state: str
) -> None:
    parsed = parse_sync_identity(output)
    assert parsed["state"] == state
    assert (parsed["recipient"] is not None) == (state == "present")
