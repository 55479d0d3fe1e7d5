"""PostgresCheck with its password from the SecretManager, against a SCRAM-auth cluster."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from appliance.health.models import ServiceStatus
from appliance.health.services import PostgresCheck
from appliance.secrets import SecretManager
from appliance.secrets.env import EnvBackend
from appliance.secrets.vault import VaultBackend
from tests.unit.secrets.conftest import FakeClock, PasswordPostgres, VaultLab

NAME = "postgres/sovereign"


def check(pg: PasswordPostgres, secrets: SecretManager) -> PostgresCheck:
    return PostgresCheck(pg.dsn, secrets=secrets, password_secret=NAME)


def test_password_from_vault(vault: VaultLab, password_postgres: PasswordPostgres) -> None:
    vault.write(NAME, {"password": password_postgres.password})
    secrets = SecretManager(VaultBackend(vault.settings()), 300)
    probe = check(password_postgres, secrets).probe_blocking()
    assert probe.status is ServiceStatus.UP, probe.message
    assert probe.details["role"] == "primary"


def test_without_the_password_the_cluster_refuses(password_postgres: PasswordPostgres) -> None:
    probe = PostgresCheck(password_postgres.dsn, connect_timeout_s=2).probe_blocking()
    assert probe.status is ServiceStatus.DOWN  # proves the check above used the password


def test_sealed_vault_past_the_ttl_is_not_postgres_down(
    vault: VaultLab,
    password_postgres: PasswordPostgres,
    clock: FakeClock,
    seal: Callable[[], None],
) -> None:
    """The drill's cascade: Vault away longer than the TTL while PostgreSQL serves."""
    vault.write(NAME, {"password": password_postgres.password})
    secrets = SecretManager(
        VaultBackend(vault.settings(), clock=clock), 300, clock=clock, stale_max_s=3600
    )
    pg = check(password_postgres, secrets)
    assert pg.probe_blocking().status is ServiceStatus.UP
    seal()
    clock.advance(200)
    probe = pg.probe_blocking()
    assert probe.status is ServiceStatus.UP and "password_stale_age_s" not in probe.details
    clock.advance(400)  # 10 minutes after the fetch, past the 300 s TTL
    probe = pg.probe_blocking()
    assert probe.status is ServiceStatus.UP, probe.message
    assert probe.details["password_stale_age_s"] == 600.0
    clock.advance(3300)  # TTL + stale_max_s gone as well: no password to give any more
    probe = pg.probe_blocking()
    assert probe.status is ServiceStatus.DOWN
    assert probe.message.startswith("secret postgres/sovereign unavailable: vault sealed")


def test_rotated_password_is_fetched_again_at_once(
    vault: VaultLab, password_postgres: PasswordPostgres
) -> None:
    vault.write(NAME, {"password": "an-old-password-value"})
    secrets = SecretManager(VaultBackend(vault.settings()), 300)
    pg = check(password_postgres, secrets)
    probe = pg.probe_blocking()
    assert probe.status is ServiceStatus.DOWN
    assert "password authentication failed" in probe.message
    assert "an-old-password-value" not in probe.message
    vault.write(NAME, {"password": password_postgres.password})  # the "rotation"
    assert pg.probe_blocking().status is ServiceStatus.UP  # the refusal dropped the cached value


def test_password_from_the_env_backend(
    password_postgres: PasswordPostgres, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("APPLIANCE_SECRET_POSTGRES__SOVEREIGN__PASSWORD", password_postgres.password)
    probe = check(password_postgres, SecretManager(EnvBackend(), 300)).probe_blocking()
    assert probe.status is ServiceStatus.UP, probe.message


def test_secret_and_manager_go_together(password_postgres: PasswordPostgres) -> None:
    with pytest.raises(ValueError, match="together"):
        PostgresCheck(password_postgres.dsn, password_secret=NAME)
