"""The snapshots role's outcome: a quarter-hour, persistent timer enabled and waiting, a
hardened oneshot service running the agent's policy engine, and the policy file holding every
declared dataset's policy (the documented defaults by the dataset's kind, or the inventory's
`snapshots.datasets`)."""

from __future__ import annotations

import tomllib
from typing import Any

import pytest

from tests.infra.conftest import exposure
from tests.infra.expected import EXPOSURE_LIMIT, Dataset, HostData, section

SNAPSHOT_TIMER = "sovereign-snapshots.timer"
SNAPSHOT_SERVICE = "sovereign-snapshots.service"
SNAPSHOT_CONFIG = "/etc/sovereign/snapshots.toml"

pytestmark = pytest.mark.journal(SNAPSHOT_SERVICE)

# Documented defaults (roles/snapshots/settings.py): templates by the dataset name's last part.
TEMPLATES: dict[str, dict[str, Any]] = {
    "production": {"frequently": 0, "hourly": 36, "daily": 30, "monthly": 3, "autosnap": True},
    "frequent": {"frequently": 8, "hourly": 36, "daily": 30, "monthly": 3, "autosnap": True},
    "backup": {"frequently": 0, "hourly": 30, "daily": 90, "monthly": 12, "autosnap": False},
    "none": {"frequently": 0, "hourly": 0, "daily": 0, "monthly": 0, "autosnap": False},
}
KIND_TEMPLATE = {
    "nextcloud": "frequent",
    "postgres": "frequent",
    "backups": "frequent",  # the WAL archive and raft snapshots leave the host in its snapshots
    "replicas": "backup",
    "scratch": "none",
    "tmp": "none",
    "cache": "none",
}


def enabled(data: HostData) -> bool:
    return section(data, "snapshots").get("enabled", True) is not False


@pytest.fixture(scope="module")
def policies(host: Any) -> dict[str, Any]:
    text = host.file(SNAPSHOT_CONFIG).content_string
    datasets: dict[str, Any] = tomllib.loads(text)["datasets"]
    return datasets


def test_timer_enabled_and_waiting(host: Any, host_data: HostData) -> None:
    timer = host.service(SNAPSHOT_TIMER)
    assert timer.is_enabled == enabled(host_data)
    assert timer.is_running == enabled(host_data)


def test_timer_every_quarter_hour_catching_up_after_downtime(host: Any) -> None:
    unit = host.file(f"/etc/systemd/system/{SNAPSHOT_TIMER}")
    assert unit.contains("^OnCalendar=.*:00/15:00$")
    assert unit.contains("^Persistent=true$")


def test_policy_file_is_roots(host: Any) -> None:
    conf = host.file(SNAPSHOT_CONFIG)
    assert conf.is_file and conf.user == "root" and conf.mode == 0o644


def test_every_dataset_has_its_policy(
    policies: dict[str, Any], dataset: Dataset, host_data: HostData
) -> None:
    declared = section(section(host_data, "snapshots"), "datasets").get(dataset.name) or {}
    kind = dataset.name.rsplit("/", 1)[-1]
    want = dict(TEMPLATES[declared.get("use_template", KIND_TEMPLATE.get(kind, "production"))])
    want.update({k: v for k, v in declared.items() if k in want})
    policy = policies[dataset.name]
    assert {k: policy[k] for k in want} == want


def test_service_is_hardened(host: Any) -> None:
    assert exposure(host, SNAPSHOT_SERVICE) < EXPOSURE_LIMIT


def test_service_runs_the_agents_engine(host: Any) -> None:
    exec_start = host.check_output(f"systemctl show -p ExecStart --value {SNAPSHOT_SERVICE}")
    assert "-m appliance.backup snapshots" in exec_start
    assert host.file("/opt/sovereign/agent/bin/python").exists
