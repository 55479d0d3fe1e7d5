from __future__ import annotations

import tomllib

import pytest

from roles.agent.config import config_text
from roles.agent.facts import AgentInstall
from roles.agent.ops import wheel_python
from roles.agent.settings import AgentRoleSettings, resolve_listen_address
from roles.settings import RoleSettingsError, parse_settings
from roles.spec import HostSpec, parse_host_spec

DISKS = {"storage": {"disks": [f"/dev/disk/by-id/d{n}" for n in range(6)]}}


def spec(cfg: AgentRoleSettings, data: dict[str, object], name: str = "h") -> HostSpec:
    """A host spec with these agent settings; the agent's config file is not checked yet."""
    valid = parse_host_spec(name, {**DISKS, "ssh_hostname": "10.0.0.5", **data})
    return valid.model_copy(update={"agent": cfg})


def test_config_listens_on_loopback_behind_the_edge_by_default() -> None:
    text = config_text(spec(AgentRoleSettings(), {"ssh_hostname": "10.99.0.11"}, "h"))
    data = tomllib.loads(text)
    assert (data["host"], data["port"]) == ("127.0.0.1", 8013)
    assert data["security"]["trusted_proxies"] == ["127.0.0.1/32", "::1/128"]


def test_listen_address_can_still_be_declared() -> None:
    cfg = AgentRoleSettings(listen_address="10.99.0.11")
    assert tomllib.loads(config_text(spec(cfg, {}, "h")))["host"] == "10.99.0.11"


def test_security_settings_merge_with_the_trusted_edge() -> None:
    cfg = AgentRoleSettings(config={"security": {"rate_per_token": 50.0}})
    data = tomllib.loads(config_text(spec(cfg, {"ssh_hostname": "10.99.0.11"}, "h")))
    assert data["security"] == {
        "trusted_proxies": ["127.0.0.1/32", "::1/128"], "rate_per_token": 50.0,
    }  # fmt: skip


def test_config_watches_postgres_and_the_broker() -> None:
    host_data = {"ssh_hostname": "10.99.0.11", "broker": {"port": 9093},
                 "postgres": {"port": 5433}}  # fmt: skip
    data = tomllib.loads(config_text(spec(AgentRoleSettings(), host_data, "h")))
    assert data["postgres_health_dsn"] == (
        "host=/var/run/postgresql port=5433 dbname=postgres user=sovereign"
    )
    assert data["events"]["bootstrap_servers"] == "127.0.0.1:9093"  # the broker's loopback


def test_inventory_config_overrides_service_defaults() -> None:
    cfg = AgentRoleSettings(config={"events": {"bootstrap_servers": "192.0.2.9:9092"}})
    data = tomllib.loads(config_text(spec(cfg, {"ssh_hostname": "10.99.0.11"}, "h")))
    assert data["events"] == {"bootstrap_servers": "192.0.2.9:9092"}


def test_config_falls_back_to_loopback_for_a_dns_name() -> None:
    assert resolve_listen_address(AgentRoleSettings(), "nas1.example.org") == "127.0.0.1"


def test_extra_config_is_rendered_and_validated_by_the_agent_model() -> None:
    cfg = AgentRoleSettings(config={"sample_interval_s": 1.0, "thresholds": {"cpu_warning": 70}})
    data = tomllib.loads(config_text(spec(cfg, {"ssh_hostname": "10.0.0.5"}, "h")))
    assert data["sample_interval_s"] == 1.0
    assert data["thresholds"] == {"cpu_warning": 70}


def test_bad_agent_config_names_the_field() -> None:
    cfg = AgentRoleSettings(config={"thresholds": {"cpu_warning": 99, "cpu_critical": 90}})
    with pytest.raises(RoleSettingsError, match="cpu_warning"):
        config_text(spec(cfg, {"ssh_hostname": "10.0.0.5"}, "h1"))
    with pytest.raises(RoleSettingsError, match=r"agent\.sample_interval_s"):
        config_text(spec(AgentRoleSettings(config={"sample_interval_s": -1}), {}, "h1"))


def test_role_owned_keys_are_rejected() -> None:
    with pytest.raises(RoleSettingsError, match="set by the role"):
        parse_settings(AgentRoleSettings, "agent", {"config": {"port": 1}}, "h")


def test_config_validation_ignores_the_controllers_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("APPLIANCE_SAMPLE_INTERVAL_S", "-5")  # would be invalid if read
    config_text(spec(AgentRoleSettings(), {"ssh_hostname": "10.0.0.5"}, "h"))


def test_agent_install_fact() -> None:
    assert AgentInstall().process(["digest=abc", "python=3.11"]) == {
        "digest": "abc",
        "python": "3.11",
    }
    assert AgentInstall().process(["digest=", "python="]) == {"digest": None, "python": None}


def test_wheel_python() -> None:
    assert (
        wheel_python(["x-1.0-py3-none-any.whl", "y-2-cp311-cp311-manylinux_x86_64.whl"]) == "3.11"
    )
    assert wheel_python(["x-1.0-py3-none-any.whl"]) is None
    assert wheel_python(["psutil-7.2.2-cp36-abi3-manylinux2010_x86_64.whl"]) is None


def test_with_vault_the_agent_keeps_its_data_in_postgres_password_from_vault() -> None:
    with_vault = tomllib.loads(config_text(spec(AgentRoleSettings(), {"vault": {}})))
    assert with_vault["database_url"] == (
        "postgresql+psycopg://sovereign_agent@127.0.0.1:5432/sovereign_agent"
    )
    assert with_vault["database_password_secret"] == "postgres/sovereign_agent"
    without = tomllib.loads(config_text(spec(AgentRoleSettings(), {})))
    assert "database_url" not in without  # embedded SQLite: no password to keep anywhere


def test_the_database_outage_state_file_is_on_by_default_and_kept_beside_inventory_keys() -> None:
    path = "/var/lib/sovereign/alert-outage.json"
    default = tomllib.loads(config_text(spec(AgentRoleSettings(), {}, "h")))
    assert default["alerting"]["dispatch"]["outage_state_file"] == path
    cfg = AgentRoleSettings(config={"alerting": {"dispatch": {"tick_s": 2.0}}})
    merged = tomllib.loads(config_text(spec(cfg, {}, "h")))["alerting"]["dispatch"]
    assert merged == {"outage_state_file": path, "tick_s": 2.0}
    own = AgentRoleSettings(config={"alerting": {"dispatch": {"outage_state_file": "/x.json"}}})
    kept = tomllib.loads(config_text(spec(own, {}, "h")))["alerting"]["dispatch"]
    assert kept["outage_state_file"] == "/x.json"
