"""Is the broker there? One metadata request, shared by the forwarder and the bus's health."""

from __future__ import annotations

import time

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient


def probe_broker(admin: AdminClient, timeout_s: float) -> tuple[float | None, str | None]:
    """A metadata request: (latency in ms, None) if the cluster answers, else (None, error)."""
    start = time.perf_counter()
    try:
        admin.list_topics(timeout=timeout_s)
    except KafkaException as exc:
        return None, str(exc.args[0]) if exc.args else repr(exc)
    return (time.perf_counter() - start) * 1000, None
