"""The broker health check against a real tansu broker."""

from __future__ import annotations

from appliance.health.models import ServiceStatus
from appliance.health.services import BrokerCheck
from tests.unit.events.conftest import Broker


def test_broker_up_reports_broker_count(broker: Broker) -> None:
    probe = BrokerCheck({"bootstrap.servers": broker.bootstrap}).probe_blocking()
    assert probe.status is ServiceStatus.UP
    assert probe.details["brokers"] == 1


def test_broker_stopped_is_down(broker: Broker) -> None:
    broker.stop()
    probe = BrokerCheck({"bootstrap.servers": broker.bootstrap}, timeout_s=1).probe_blocking()
    assert probe.status is ServiceStatus.DOWN
    assert probe.message
