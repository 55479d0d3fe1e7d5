"""The spec's send_alert example from a script on the appliance host, outside the agent's
process: get_alert_manager() finds the agent's config file and puts the alert into the
agent's database, where the running agent's dispatcher picks it up; without an agent's
config it only logs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance.alerting.dispatch.store import DispatchStore
from appliance.alerting.manager import AlertLevel, get_alert_manager, set_alert_manager
from appliance.alerting.models import AlertStatus
from appliance.database.connect import open_sqlite


@pytest.fixture
def no_installed_manager() -> Iterator[None]:
    set_alert_manager(None)
    yield
    set_alert_manager(None)


def test_the_spec_example_from_a_host_script_reaches_the_agents_dispatch_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_installed_manager: None
) -> None:
    database = tmp_path / "agent.db"
    store = open_sqlite(database)
    store.prepare()  # the deployed agent's database, migrated
    config = tmp_path / "agent.toml"
    config.write_text(f'sqlite_path = "{database}"\n')
    monkeypatch.setenv("APPLIANCE_CONFIG_FILE", str(config))

    alerter = get_alert_manager()
    alerter.send_alert(
        message="CRITICAL: Primary Postgres Connection Failed [ECONNREFUSED]",
        level=AlertLevel.CRITICAL,
        channels=None,  # auto-selects PagerDuty + SMS
        context={"node": "worker-01", "retry_count": 5},
    )
    stored = DispatchStore(store).alerts()
    assert len(stored) == 1
    assert stored[0].severity is AlertLevel.CRITICAL and stored[0].status is AlertStatus.FIRING
    assert "Primary Postgres Connection Failed" in " ".join(stored[0].annotations.values())
    assert get_alert_manager() is alerter  # built once per process
    store.close()


def test_without_an_agent_here_it_only_logs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_installed_manager: None
) -> None:
    monkeypatch.setenv("APPLIANCE_CONFIG_FILE", str(tmp_path / "absent.toml"))
    alert = get_alert_manager().send_alert("WARNING: nothing to reach", AlertLevel.WARNING)
    assert alert.name  # built and logged, sent nowhere
    assert not (tmp_path / "agent.db").exists()
