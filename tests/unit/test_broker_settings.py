from __future__ import annotations

from typing import Any

import pytest
import yaml

from controller.artifacts import WHEELHOUSE
from roles.broker.settings import (
    BrokerSettings,
    check_peers,
    resolve_listen_address,
    resolve_peer_address,
)
from roles.requirements import preflight_host
from roles.settings import RoleSettingsError, parse_settings


def test_defaults_are_redpanda_with_appliance_topics() -> None:
    cfg = BrokerSettings()
    assert cfg.flavour == "redpanda"
    assert {t.name for t in cfg.topics} >= {"sovereign.alerts"}


@pytest.mark.parametrize("name", ["", ".", "..", "a b", "x" * 250, "bad/topic"])
def test_bad_topic_names_rejected(name: str) -> None:
    with pytest.raises(RoleSettingsError, match=r"broker\.topics\.0\.name"):
        parse_settings(BrokerSettings, "broker", {"topics": [{"name": name}]}, "h")


def test_duplicate_topics_rejected() -> None:
    with pytest.raises(RoleSettingsError, match="declared twice"):
        parse_settings(BrokerSettings, "broker", {"topics": [{"name": "a"}, {"name": "a"}]}, "h")


def test_listen_address_defaults_to_loopback() -> None:
    assert resolve_listen_address(BrokerSettings(), "10.99.0.11") == "127.0.0.1"
    assert resolve_listen_address(BrokerSettings(), "nas1.example.org") == "127.0.0.1"
    assert resolve_listen_address(BrokerSettings(listen_address="192.0.2.5"), "x") == "192.0.2.5"


def test_peers_need_redpanda_and_an_address_for_them() -> None:
    check_peers(BrokerSettings(flavour="tansu"), [], "10.99.0.11")  # no peers: fine
    with pytest.raises(ValueError, match=r"broker\.flavour"):
        check_peers(BrokerSettings(flavour="tansu"), ["10.99.0.12"], "10.99.0.11")
    check_peers(BrokerSettings(), ["10.99.0.12"], "10.99.0.11")
    assert resolve_peer_address(BrokerSettings(), "10.99.0.11") == "10.99.0.11"
    with pytest.raises(ValueError, match=r"broker\.peer_address"):
        check_peers(BrokerSettings(), ["10.99.0.12"], "nas1.example.org")


def artifacts(name: str, data: dict[str, object]) -> set[str]:
    disks = {"storage": {"disks": [f"/dev/disk/by-id/d{n}" for n in range(6)]}}
    _, needed = preflight_host(name, {"ssh_hostname": "192.0.2.1", **disks, **data})
    return needed


def test_required_artifacts_follow_the_flavour() -> None:
    agent = {WHEELHOUSE}  # every host runs the agent
    assert artifacts("h", {"broker": {"flavour": "tansu"}}) == {"tansu"} | agent
    assert artifacts("h", {}) == agent
    assert artifacts("h", {"broker": {"redpanda_source": "artifact"}}) == {"redpanda.deb"} | agent
    assert artifacts("h", {"vault": {}}) == {"bao"} | agent


def test_required_artifacts_names_a_bad_field() -> None:
    with pytest.raises(RoleSettingsError, match=r"(?s)host h1: .*broker\.flavour"):
        artifacts("h1", {"broker": {"flavour": "kafka"}})


def _redpanda(**data: object) -> dict[str, Any]:
    from pyinfra.api.util import get_template

    from roles.broker import HERE, _template_args
    from roles.spec import parse_host_spec

    disks = {"storage": {"disks": [f"/dev/disk/by-id/d{n}" for n in range(6)]}}
    spec = parse_host_spec("nas1", {"ssh_hostname": "10.99.0.11", **disks, **data})
    text = get_template(str(HERE / "redpanda.yaml.j2")).render(_template_args(spec))
    document: dict[str, Any] = yaml.safe_load(text)
    return document


def test_redpanda_alone_listens_on_loopback() -> None:
    node = _redpanda()["redpanda"]
    assert node["kafka_api"] == [{"name": "local", "address": "127.0.0.1", "port": 9092}]
    assert node["rpc_server"]["address"] == "127.0.0.1"
    assert "kafka_api_tls" not in node and node["empty_seed_starts_cluster"] is True


def test_redpanda_with_peers_authenticates_them_over_tls() -> None:
    node = _redpanda(peers=["10.99.0.12"])["redpanda"]
    local, peers = node["kafka_api"]
    assert local == {"name": "local", "address": "127.0.0.1", "port": 9092,
                     "authentication_method": "none"}  # fmt: skip
    assert peers == {"name": "peers", "address": "10.99.0.11", "port": 9092,
                     "authentication_method": "sasl"}  # fmt: skip
    (tls,) = node["kafka_api_tls"]
    assert tls["name"] == "peers" and tls["enabled"] is True
    assert tls["truststore_file"] == "/etc/sovereign/tls/ca.crt"
    assert node["rpc_server_tls"]["enabled"] is True
    assert [s["host"]["address"] for s in node["seed_servers"]] == ["10.99.0.11", "10.99.0.12"]
