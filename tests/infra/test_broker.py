"""The broker role's outcome: the unit runs hardened, listens where declared, topics exist."""

from __future__ import annotations

import json
from typing import Any

import pytest

from roles.broker import unit_name
from roles.broker.settings import BrokerSettings, resolve_listen_address


@pytest.fixture
def broker(host_data: dict[str, Any]) -> BrokerSettings:
    return BrokerSettings.model_validate(host_data.get("broker") or {})


@pytest.fixture
def address(broker: BrokerSettings, host_data: dict[str, Any]) -> str:
    return resolve_listen_address(broker, host_data.get("ssh_hostname"))


def test_unit_running_and_enabled(host: Any, broker: BrokerSettings) -> None:
    service = host.service(unit_name(broker))
    assert service.is_running
    assert service.is_enabled


def test_listens_on_declared_address_only(host: Any, broker: BrokerSettings, address: str) -> None:
    assert host.socket(f"tcp://{address}:{broker.port}").is_listening
    assert not host.socket(f"tcp://0.0.0.0:{broker.port}").is_listening


def test_declared_topics_exist(host: Any, broker: BrokerSettings, address: str) -> None:
    if broker.flavour == "tansu":
        out = host.check_output(
            f"/usr/local/bin/tansu topic list --broker tcp://{address}:{broker.port}"
        )
        existing = {t["name"]: len(t["partitions"]) for t in json.loads(out)}
    else:
        out = host.check_output(f"rpk topic list --brokers {address}:{broker.port} --format json")
        existing = {t["name"]: t["partitions"] for t in json.loads(out)}
    for topic in broker.topics:
        assert existing.get(topic.name) == topic.partitions, topic.name


@pytest.mark.parametrize(
    ("prop", "value"),
    [
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("DynamicUser", "yes"),
        ("CapabilityBoundingSet", ""),
    ],
)
def test_tansu_unit_hardened(host: Any, broker: BrokerSettings, prop: str, value: str) -> None:
    if broker.flavour != "tansu":
        pytest.skip("hardening of the vendor's redpanda unit is the vendor's")
    out = host.check_output(f"systemctl show -p {prop} --value {unit_name(broker)}")
    assert out == value
