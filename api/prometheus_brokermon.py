"""Prometheus families of the broker monitors (appliance/brokermon), read from what they hold
at scrape time: a scrape never asks the broker or the database."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from appliance.brokermon.service import BrokerMonitors


def brokermon_metrics(monitors: BrokerMonitors) -> Iterator[Metric]:
    kafka = monitors.kafka.last if monitors.kafka is not None else None
    if kafka is not None:
        yield GaugeMetricFamily(
            "appliance_kafka_broker_up",
            "1 when the Kafka monitor's last sample reached the broker",
            value=1.0 if kafka.reachable else 0.0,
        )
        yield GaugeMetricFamily(
            "appliance_kafka_sample_timestamp_seconds",
            "When the Kafka monitor last sampled the broker (Unix time)",
            value=kafka.sampled_at,
        )
        if kafka.reachable:
            partitions = GaugeMetricFamily(
                "appliance_kafka_topic_partitions", "Partitions per topic", labels=["topic"]
            )
            for topic, count in kafka.topics.items():
                partitions.add_metric([topic], count)
            lag = GaugeMetricFamily(
                "appliance_kafka_consumer_lag",
                "Messages a consumer group is behind on a topic (end offsets minus committed)",
                labels=["group", "topic"],
            )
            for g in kafka.lags:
                lag.add_metric([g.group, g.topic], g.lag)
            yield from (partitions, lag)
    if monitors.latency is not None:
        st = monitors.latency.stats()
        quantiles = GaugeMetricFamily(
            "appliance_e2e_latency_ms",
            "Probe event ingest to PostgreSQL commit over the window, by quantile (a pending "
            "probe counts with its age so far)",
            labels=["quantile"],
        )
        for q, value in (("0.5", st.p50_ms), ("0.95", st.p95_ms), ("0.99", st.p99_ms)):
            if value is not None:
                quantiles.add_metric([q], value)
        yield quantiles
        yield GaugeMetricFamily(
            "appliance_e2e_latency_pending", "Probes published, not committed yet", value=st.pending
        )
        yield CounterMetricFamily(
            "appliance_e2e_latency_probes_lost",
            "Probes never committed within the window, since start",
            value=st.lost,
        )
