"""The runtime builds the secret manager, the vault check and the TOTP service from settings."""

from __future__ import annotations

import asyncio

import hvac
import pytest

from appliance.database.connect import open_sqlite
from appliance.errors import BackendUnavailable
from appliance.health.models import ServiceStatus
from appliance.runtime import AgentRuntime
from appliance.storage.service import ZfsBackend
from tests.unit.agent.factories import FakeCollector, make_settings
from tests.unit.secrets.conftest import PasswordPostgres, VaultLab


def no_zfs() -> ZfsBackend:
    raise BackendUnavailable("no ZFS in these tests")


def build(**settings: object) -> AgentRuntime:
    return AgentRuntime.build(
        make_settings(**settings),
        collect=FakeCollector().collect,
        store=open_sqlite(":memory:"),
        zfs_backend=no_zfs,
    )


def test_default_is_the_env_backend_without_vault_check_or_totp() -> None:
    runtime = build()
    assert runtime.secrets.kind == "env"
    assert "vault" not in runtime.health.registry.names
    assert runtime.totp is None


def test_vault_backend_wiring_and_shutdown(
    vault: VaultLab, password_postgres: PasswordPostgres
) -> None:
    vault.write("postgres/sovereign", {"password": password_postgres.password})
    runtime = build(
        secrets={"backend": "vault", "vault": vault.settings().model_dump()},
        postgres_health_dsn=password_postgres.dsn,
        postgres_password_secret="postgres/sovereign",
        totp={"issuer": "Test"},
    )
    assert runtime.secrets.kind == "vault"
    assert runtime.totp is not None
    report = asyncio.run(runtime.health.run_once())
    assert report.services["vault"].status is ServiceStatus.UP
    assert report.services["vault"].details["breaker"] == "closed"
    assert report.services["postgres"].status is ServiceStatus.UP
    assert runtime.secrets.status()["logged_in"] is True  # the postgres check logged in
    # Stopping revokes the agent's token, and forgets it.
    backend = runtime.secrets.backend
    token = backend._client.token  # type: ignore[attr-defined]
    asyncio.run(runtime.stop())
    assert runtime.secrets.status()["logged_in"] is False
    with pytest.raises(hvac.exceptions.Forbidden):
        hvac.Client(
            url=vault.bao.address, token=token, verify=str(vault.bao.ca_cert)
        ).auth.token.lookup_self()
