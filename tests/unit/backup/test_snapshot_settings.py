"""Snapshot policies in the host spec: defaults by dataset kind, templates with overrides,
errors naming the field, and the policy file the runner reads back with its own model."""

from __future__ import annotations

import tomllib
from typing import Any

import jinja2
import pytest

from appliance.backup import __main__ as runner_cli
from appliance.backup.policy import TEMPLATES, SnapshotConfig
from roles.settings import RoleSettingsError
from roles.snapshots import AGENT_PYTHON, HERE
from roles.snapshots.plan import CONFIG_FILE, config_text
from roles.spec import parse_host_spec

DISKS = [f"/dev/disk/by-id/d{n}" for n in range(6)]


def spec_of(**data: Any) -> Any:
    return parse_host_spec("h1", {"ssh_hostname": "192.0.2.1", "storage": {"disks": DISKS}, **data})


def test_every_default_dataset_gets_its_kinds_policy() -> None:
    policies = spec_of().snapshots.config().datasets
    assert sorted(policies) == [
        "tank/agent", "tank/backups", "tank/nextcloud", "tank/postgres", "tank/vault",
    ]  # fmt: skip
    assert policies["tank/nextcloud"] == policies["tank/postgres"] == TEMPLATES["frequent"]
    # The host's own backups: snapshotted often, so replication carries them off the host.
    assert policies["tank/backups"] == TEMPLATES["frequent"]
    assert policies["tank/nextcloud"].frequently == 8
    assert policies["tank/vault"] == policies["tank/agent"] == TEMPLATES["production"]
    replicas = spec_of(
        storage={"disks": DISKS, "datasets": [{"name": "tank/replicas"}]}
    ).snapshots.config()
    assert not replicas.datasets["tank/replicas"].autosnap  # received, never taken
    assert replicas.datasets["tank/replicas"].autoprune


def test_declared_policy_overrides_its_template_only_where_given() -> None:
    spec = spec_of(
        storage={
            "disks": DISKS,
            "datasets": [{"name": "tank/scratch"}, {"name": "tank/nextcloud"}],
        },
        snapshots={
            "datasets": {
                "tank/nextcloud": {"frequently": 2, "frequent_period": 5, "recursive": True},
                "tank": {"use_template": "backup", "daily": 7},
            }
        },
    )
    policies = spec.snapshots.config().datasets
    assert policies["tank/scratch"] == TEMPLATES["none"]
    nextcloud = policies["tank/nextcloud"]
    assert (nextcloud.frequently, nextcloud.frequent_period, nextcloud.recursive) == (2, 5, True)
    assert nextcloud.hourly == TEMPLATES["production"].hourly
    assert policies["tank"].daily == 7 and not policies["tank"].autosnap


@pytest.mark.parametrize(
    ("snapshots", "named"),
    [
        ({"datasets": {"tank/nope": {}}}, "snapshots.datasets.tank/nope: not a dataset"),
        ({"datasets": {"tank/vault": {"hourly": -1}}}, "snapshots.datasets.tank/vault.hourly"),
        (
            {"datasets": {"tank/vault": {"frequent_period": 7}}},
            "snapshots.datasets.tank/vault.frequent_period",
        ),
        (
            {"datasets": {"tank/vault": {"use_template": "gold"}}},
            "snapshots.datasets.tank/vault.use_template",
        ),
        ({"datasets": {"tank/vault": {"hourly_min": 5}}}, "tank/vault.hourly_min"),
        ({"enable": False}, "snapshots.enable"),
    ],
)
def test_bad_policy_fails_preflight_naming_the_field(snapshots: Any, named: str) -> None:
    with pytest.raises(RoleSettingsError, match="invalid `snapshots` settings") as err:
        spec_of(snapshots=snapshots)
    assert named in str(err.value)


def test_policy_file_reads_back_as_the_runners_config() -> None:
    settings = spec_of(snapshots={"datasets": {"tank/vault": {"yearly": 2}}}).snapshots
    text = config_text(settings)
    assert text.startswith("# Managed by Sovereign Appliance")
    assert SnapshotConfig.model_validate(tomllib.loads(text)) == settings.config()
    assert config_text(settings) == text  # stable: a second deploy changes nothing


def test_unit_runs_the_runner_on_the_file_the_role_renders() -> None:
    """The role and the runner agree on the policy file; the unit starts the agent's runner."""
    assert str(runner_cli.CONFIG_FILE) == CONFIG_FILE
    unit = jinja2.Template((HERE / "sovereign-snapshots.service.j2").read_text()).render(
        python=AGENT_PYTHON, config=CONFIG_FILE
    )
    assert f"ExecStart={AGENT_PYTHON} -m appliance.backup snapshots --config {CONFIG_FILE}\n" in (
        unit
    )
    assert "StateDirectory=sovereign/snapshots\n" in unit
    assert str(runner_cli.STATE_FILE).startswith("/var/lib/sovereign/snapshots/")
