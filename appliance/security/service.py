"""The security services of one agent, composed from its settings (the runtime holds one)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from appliance.database.repository import Store
from appliance.security.audit import AuditLog
from appliance.security.network import Network, parse_networks
from appliance.security.ratelimit import BucketTable, FailureGuard
from appliance.security.settings import SecuritySettings
from appliance.security.stepup import StepUpService
from appliance.security.tokens import TokenService
from appliance.totp import TotpService

log = logging.getLogger(__name__)


@dataclass
class Security:
    settings: SecuritySettings
    tokens: TokenService
    audit: AuditLog
    step_up: StepUpService
    per_token: BucketTable
    per_address: BucketTable
    #: Failed token authentications per address.
    failures: FailureGuard
    #: Failed TOTP codes and grants per address: counted apart, since the token that carries
    #: them authenticates fine each time (which resets ``failures``' row).
    totp_failures: FailureGuard
    scrape_networks: tuple[Network, ...]
    trusted_proxies: tuple[Network, ...]

    @classmethod
    def build(
        cls,
        settings: SecuritySettings,
        store: Store,
        totp: TotpService | None,
        *,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> Security:
        s = settings

        def guard() -> FailureGuard:
            return FailureGuard(
                s.auth_failure_rate,
                s.auth_failure_burst,
                s.auth_failures_lockout,
                s.lockout_s,
                s.max_tracked_addresses,
                monotonic,
            )

        return cls(
            settings=s,
            tokens=TokenService(
                store,
                cache_ttl_s=s.token_cache_ttl_s,
                last_used_interval_s=s.last_used_interval_s,
                clock=clock,
                monotonic=monotonic,
            ),
            audit=AuditLog(store, clock),
            step_up=StepUpService(totp, s.step_up_ttl_s, clock),
            per_token=BucketTable(s.rate_per_token, s.burst, s.max_tracked_addresses, monotonic),
            per_address=BucketTable(
                s.rate_per_address, s.address_burst, s.max_tracked_addresses, monotonic
            ),
            failures=guard(),
            totp_failures=guard(),
            scrape_networks=parse_networks(s.scrape_networks),
            trusted_proxies=parse_networks(s.trusted_proxies),
        )

    def prune_audit(self) -> int:
        return self.audit.prune_older_than_days(self.settings.audit_retention_days)

    async def keep_pruning(self) -> None:
        """Prune the audit log now and every ``audit_prune_interval_s`` (a background task)."""
        while True:
            try:
                await asyncio.to_thread(self.prune_audit)
            except Exception as exc:  # the database may be away; the next round tries again
                log.warning("audit log not pruned: %s", exc)
            await asyncio.sleep(self.settings.audit_prune_interval_s)
