"""The drill's cascade on real parts: a real OpenBao stopped past the secrets' TTL and started
again, a real PostgreSQL with password auth, and the real health monitor driving both checks.

While Vault is away: PostgreSQL stays up (its password served stale, marked with its age),
Vault alone is down. After Vault returns: healthy again within seconds, although the client's
breaker cooldown is set far longer than that (the vault check's recovery probe ends it).
"""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from appliance.health.models import OverallStatus, ServiceStatus
from appliance.health.monitor import HealthMonitor
from appliance.health.registry import HealthRegistry
from appliance.health.services import PostgresCheck, VaultCheck
from appliance.secrets import SecretManager
from appliance.secrets.vault import VaultBackend
from tests.unit.secrets.conftest import PasswordPostgres, VaultLab, configure_like_the_role

NAME = "postgres/sovereign"
TTL_S = 1.0


async def wait_for(
    monitor: HealthMonitor, condition: str, timeout_s: float, predicate: object
) -> float:
    """Seconds until the monitor's last report satisfies ``predicate``."""
    start = time.monotonic()
    while time.monotonic() - start < timeout_s:
        report = monitor.last
        if report is not None and predicate(report):  # type: ignore[operator]
            return time.monotonic() - start
        await asyncio.sleep(0.05)
    raise AssertionError(f"not {condition} within {timeout_s} s: {monitor.last}")


def test_vault_stopped_past_the_ttl_then_back(
    lone_bao: VaultLab, password_postgres: PasswordPostgres, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    lone_bao.write(NAME, {"password": password_postgres.password})
    # A cooldown far beyond the 5 s target: recovery must not wait for it.
    settings = lone_bao.settings(breaker_cooldown_s=600, breaker_failures=2)
    secrets = SecretManager(VaultBackend(settings), TTL_S, stale_max_s=3600)
    registry = HealthRegistry(default_timeout_s=5)
    registry.register(PostgresCheck(password_postgres.dsn, secrets=secrets, password_secret=NAME))
    registry.register(VaultCheck(settings, secrets.status, recover=secrets.recover))
    # A long full interval: only the retry of failing checks can bring the report back fast.
    monitor = HealthMonitor(registry, interval_s=60, retry_interval_s=0.5)

    async def drill() -> float:
        first = await monitor.run_once()
        assert first.status is OverallStatus.HEALTHY, first
        monitor.start()
        try:
            lone_bao.bao.stop()
            await asyncio.sleep(TTL_S + 0.2)
            # The password's TTL ran out during the outage; the next full round asks for it.
            outage = await monitor.run_once()
            pg, vault = outage.services["postgres"], outage.services["vault"]
            assert pg.status is ServiceStatus.UP, pg.message
            assert pg.details["password_stale_age_s"] >= TTL_S
            assert vault.status is ServiceStatus.DOWN
            await asyncio.sleep(1.5)  # retries of the failing vault check meanwhile
            assert monitor.last is not None
            assert monitor.last.services["postgres"].status is ServiceStatus.UP
            vault = monitor.last.services["vault"]
            assert vault.message.startswith("vault unreachable; serving 1 secret stale"), vault
            assert vault.details["stale_secrets"].keys() == {NAME}
            assert vault.details["breaker"] == "open"

            # Vault back: same address, its data set up again (dev mode keeps it in memory).
            lone_bao.bao.start()  # returns once it answers, unsealed
            back_at = time.monotonic()
            configure_like_the_role(lone_bao.bao, lone_bao.role_id_file.parent)
            lone_bao.write(NAME, {"password": password_postgres.password})
            await wait_for(monitor, "healthy", 10, lambda r: r.status is OverallStatus.HEALTHY)
            back_after_s = time.monotonic() - back_at
            assert monitor.last is not None
            vault_back = monitor.last.services["vault"].details
            assert vault_back["breaker"] == "closed" and vault_back["stale_secrets"] == {}
            assert "stale_because" not in vault_back  # no leftover of the outage
            return back_after_s
        finally:
            await monitor.stop()

    back_after_s = asyncio.run(drill())
    print(f"healthy {back_after_s:.2f} s after Vault was back")
    assert back_after_s < 5, back_after_s
    assert secrets.stale() == {} and secrets.status()["breaker"] == "closed"
    # The journal: one line per change of a check, none for postgres (it never changed).
    changes = [r.getMessage() for r in caplog.records if r.name == "appliance.health.transitions"]
    assert [m for m in changes if "check=vault" in m] == [
        changes[0],
        changes[1],
    ], changes
    assert "from=up to=down" in changes[0] and "to=up" in changes[1]
    assert not [m for m in changes if "check=postgres" in m]
    assert password_postgres.password not in caplog.text
