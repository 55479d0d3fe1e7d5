"""The PostgreSQL health check against a real throwaway server."""

from __future__ import annotations

from appliance.health.models import ServiceStatus
from appliance.health.services import PostgresCheck


def test_postgres_up_reports_primary_and_replicas(postgres_dsn: str) -> None:
    probe = PostgresCheck(postgres_dsn).probe_blocking()
    assert probe.status is ServiceStatus.UP
    assert probe.details["role"] == "primary"
    assert probe.details["replicas"] == 0
    assert probe.details["server_version"].startswith("15")


def test_postgres_unreachable_is_down_without_secrets() -> None:
    dsn = "host=127.0.0.1 port=1 dbname=postgres user=agent password=s3cret-value"
    probe = PostgresCheck(dsn, connect_timeout_s=1).probe_blocking()
    assert probe.status is ServiceStatus.DOWN
    assert probe.message
    assert "s3cret-value" not in probe.message
