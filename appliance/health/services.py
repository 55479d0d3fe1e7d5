"""Health checks of the services the deploy provisions: PostgreSQL and the Kafka-API broker."""

from __future__ import annotations

from typing import Any

from appliance.health.models import Probe, ServiceStatus
from appliance.health.registry import BlockingCheck


class PostgresCheck(BlockingCheck):
    """Connect, `select 1`, and report recovery and replication state.

    On the appliance the DSN is the local socket with peer auth as the agent's OS user, which
    the PostgreSQL role grants pg_monitor: no password to keep.
    """

    name = "postgres"

    def __init__(self, dsn: str, connect_timeout_s: float = 3.0) -> None:
        self._dsn = dsn
        self._timeout = connect_timeout_s

    def probe_blocking(self) -> Probe:
        import psycopg

        try:
            with psycopg.connect(
                self._dsn, connect_timeout=max(1, int(self._timeout)), autocommit=True
            ) as conn:
                conn.execute("select 1")
                row = conn.execute(
                    "select pg_is_in_recovery(), current_setting('server_version'),"
                    " (select count(*) from pg_stat_replication)"
                ).fetchone()
        except psycopg.Error as exc:
            # The message names host/socket and role, never a password.
            return Probe(ServiceStatus.DOWN, str(exc).strip().splitlines()[0])
        assert row is not None
        in_recovery, version, replicas = row
        details: dict[str, Any] = {
            "server_version": version,
            "role": "replica" if in_recovery else "primary",
            "replicas": int(replicas),
        }
        return Probe(ServiceStatus.UP, "", details)


class BrokerCheck(BlockingCheck):
    """A metadata request to the Kafka-API broker: broker count and topic count."""

    name = "broker"

    def __init__(self, client_config: dict[str, Any], timeout_s: float = 3.0) -> None:
        self._config = {**client_config, "socket.timeout.ms": int(timeout_s * 1000)}
        self._timeout = timeout_s

    def probe_blocking(self) -> Probe:
        from confluent_kafka import KafkaException
        from confluent_kafka.admin import AdminClient

        admin = AdminClient(self._config)
        try:
            metadata = admin.list_topics(timeout=self._timeout)
        except KafkaException as exc:
            return Probe(ServiceStatus.DOWN, str(exc.args[0]) if exc.args else repr(exc))
        brokers = len(metadata.brokers)
        details = {"brokers": brokers, "topics": len(metadata.topics)}
        if brokers == 0:
            return Probe(ServiceStatus.DOWN, "no broker in the metadata", details)
        return Probe(ServiceStatus.UP, "", details)
