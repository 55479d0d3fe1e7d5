"""The broker role's outcome: one unit named after the flavour (redpanda, or tansu in the lab),
hardened where it is ours, listening on the declared address only (loopback by default), the
declared topics there."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.infra.conftest import exposure
from tests.infra.expected import EXPOSURE_LIMIT, Broker, HostData

pytestmark = pytest.mark.journal.with_args(lambda data: Broker.of(data).unit)


@pytest.fixture(scope="module")
def broker(host_data: HostData) -> Broker:
    return Broker.of(host_data)


@pytest.fixture(scope="module")
def topics(host: Any, broker: Broker) -> dict[str, int]:
    """Topic name → partition count, as the broker itself lists them."""
    if broker.flavour == "tansu":
        out = host.check_output(
            f"/usr/local/bin/tansu topic list --broker tcp://{broker.address}:{broker.port}"
        )
        return {t["name"]: len(t["partitions"]) for t in json.loads(out)}
    out = host.check_output(
        f"rpk topic list --brokers {broker.address}:{broker.port} --format json"
    )
    return {t["name"]: int(t["partitions"]) for t in json.loads(out)}


def test_unit_running_and_enabled(host: Any, broker: Broker) -> None:
    service = host.service(broker.unit)
    assert service.is_running
    assert service.is_enabled


def test_listens_on_declared_address_only(host: Any, broker: Broker) -> None:
    assert host.socket(f"tcp://{broker.address}:{broker.port}").is_listening
    if broker.flavour != "tansu":
        pytest.skip("redpanda adds a listener for declared peers")
    listening = {
        line.split()[3].rsplit(":", 1)[0].strip("[]")
        for line in host.check_output(f"ss -Hltn sport = :{broker.port}").splitlines()
    }
    assert listening == {broker.address}


def test_declared_topic_exists(topics: dict[str, int], topic: tuple[str, int]) -> None:
    name, partitions = topic
    assert topics.get(name) == partitions, topics


@pytest.mark.parametrize(
    ("prop", "value"),
    [
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("DynamicUser", "yes"),
        ("CapabilityBoundingSet", ""),
        ("MemoryDenyWriteExecute", "yes"),
        ("PrivateUsers", "yes"),
    ],
)
def test_tansu_unit_hardened(host: Any, broker: Broker, prop: str, value: str) -> None:
    if broker.flavour != "tansu":
        pytest.skip("hardening of the vendor's redpanda unit is the vendor's")
    assert host.check_output(f"systemctl show -p {prop} --value {broker.unit}") == value


def test_tansu_exposure_below_the_limit(host: Any, broker: Broker) -> None:
    if broker.flavour != "tansu":
        pytest.skip("the vendor's redpanda unit is the vendor's")
    assert exposure(host, broker.unit) < EXPOSURE_LIMIT
