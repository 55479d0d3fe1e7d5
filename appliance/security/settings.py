"""The ``[security]`` table of the agent's config: authentication, rate limits, request
hygiene and the audit log (the code: the other modules of appliance/security and api/)."""

from __future__ import annotations

import ipaddress

from pydantic import BaseModel, ConfigDict, Field, field_validator


def _networks(value: list[str]) -> list[str]:
    checked = []
    for item in value:
        try:
            checked.append(str(ipaddress.ip_network(item.strip(), strict=False)))
        except ValueError:
            raise ValueError(f"{item!r} is not an address or network (CIDR)") from None
    return checked


class SecuritySettings(BaseModel):
    """Every number here has a default that suits one appliance with a few operators."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    scrape_networks: list[str] = Field(
        default_factory=list,
        description="Addresses or networks (CIDR) whose requests to /metrics need no token "
        "(a Prometheus on the appliance network); empty: /metrics needs a scrape token.",
    )
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="Addresses of reverse proxies in front of the agent (the edge): for "
        "requests from them, the client is the last X-Forwarded-For hop not in this list.",
    )
    rate_per_token: float = Field(
        default=200.0, gt=0, le=100_000, description="Requests per second per token."
    )
    burst: int = Field(default=400, ge=1, le=1_000_000, description="Bucket size per token.")
    rate_per_address: float = Field(
        default=400.0,
        gt=0,
        le=100_000,
        description="Requests per second per client address (anonymous GET /health excepted).",
    )
    address_burst: int = Field(default=800, ge=1, le=1_000_000)
    auth_failure_rate: float = Field(
        default=1.0,
        gt=0,
        le=1000,
        description="Failed authentications (bad token, bad TOTP code) per second an address "
        "may make once its burst is spent; beyond it, credentials are not even looked at (429).",
    )
    auth_failure_burst: int = Field(default=10, ge=1, le=10_000)
    auth_failures_lockout: int = Field(
        default=20,
        ge=1,
        le=10_000,
        description="Failed authentications in a row that lock the address out.",
    )
    lockout_s: float = Field(default=900.0, gt=0, le=86_400 * 7)
    max_body_bytes: int = Field(
        default=65_536, ge=1024, le=64 << 20, description="Larger request bodies are 413."
    )
    token_cache_ttl_s: float = Field(
        default=10.0,
        ge=0,
        le=300,
        description="How long a verified token is trusted without reading the database: a "
        "token revoked by the host CLI (another process) stops working within this time; one "
        "revoked through the API at once.",
    )
    last_used_interval_s: float = Field(
        default=60.0, ge=0, le=86_400, description="last_used_at is written at most this often."
    )
    step_up_ttl_s: float = Field(
        default=300.0, ge=10, le=3600, description="Lifetime of a step-up grant."
    )
    audit_retention_days: int = Field(
        default=365, ge=1, le=36_500, description="Audit rows older than this are pruned."
    )
    audit_prune_interval_s: float = Field(default=6 * 3600.0, ge=60, le=7 * 86_400)
    max_tracked_addresses: int = Field(
        default=10_000,
        ge=100,
        le=1_000_000,
        description="Rate-limit buckets kept in memory; the idlest are dropped beyond it.",
    )

    @field_validator("scrape_networks", "trusted_proxies")
    @classmethod
    def _cidrs(cls, value: list[str]) -> list[str]:
        return _networks(value)
