"""The broker monitors as the runtime sees them: built from settings, their health checks,
their alert facts, started once the event bus is open and stopped with the agent."""

from __future__ import annotations

from appliance.alerting.sources import Facts
from appliance.brokermon.checks import KafkaCheck, LatencyCheck
from appliance.brokermon.facts import kafka_facts, latency_facts
from appliance.brokermon.kafka import KafkaMonitor, KafkaReader
from appliance.brokermon.latency import LatencyMonitor, set_latency_monitor
from appliance.brokermon.settings import BrokerMonitorSettings
from appliance.database.repository import Store
from appliance.events import EventBus, EventBusSettings
from appliance.health.registry import HealthCheck


class BrokerMonitors:
    def __init__(self, kafka: KafkaMonitor | None, latency: LatencyMonitor | None) -> None:
        self.kafka = kafka
        self.latency = latency

    @classmethod
    def build(
        cls,
        settings: BrokerMonitorSettings,
        events: EventBusSettings | None,
        store: Store | None,
    ) -> BrokerMonitors | None:
        """None without an event bus; the latency monitor also needs the database."""
        if events is None:
            return None
        kafka = (
            KafkaMonitor(KafkaReader(events.client_config(), settings.kafka), settings.kafka)
            if settings.kafka.enabled
            else None
        )
        latency = (
            LatencyMonitor(settings.latency, store)
            if settings.latency.enabled and store is not None
            else None
        )
        return None if kafka is None and latency is None else cls(kafka, latency)

    def checks(self) -> list[HealthCheck]:
        checks: list[HealthCheck] = []
        if self.kafka is not None:
            checks.append(KafkaCheck(self.kafka))
        if self.latency is not None:
            checks.append(LatencyCheck(self.latency))
        return checks

    def facts(self, facts: Facts) -> None:
        if self.kafka is not None:
            kafka_facts(self.kafka.last, facts)
        if self.latency is not None:
            latency_facts(self.latency.stats(), facts)

    def start(self, bus: EventBus | None) -> None:
        """In the event loop, once the bus is open (no bus: no probes, the Kafka monitor
        still samples)."""
        if self.kafka is not None:
            self.kafka.start()
        if self.latency is not None and bus is not None:
            self.latency.start(bus)
            set_latency_monitor(self.latency)

    async def stop(self) -> None:
        if self.kafka is not None:
            await self.kafka.stop()
        if self.latency is not None:
            await self.latency.stop()
            set_latency_monitor(None)
