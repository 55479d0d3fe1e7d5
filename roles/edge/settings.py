"""Settings of the edge role (host data key `edge`): nginx in front of the loopback-only agent,
HTTPS with a certificate from the appliance CA, and what plain HTTP gets."""

from __future__ import annotations

import ipaddress
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from roles.pki.settings import check_sans

# Whom the agent may believe in X-Forwarded-For: the edge, on this host.
TRUSTED_PROXIES = ["127.0.0.1/32", "::1/128"]


class EdgeSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    port: int = Field(443, ge=1, le=65535, description="HTTPS port of the edge.")
    http: Literal["redirect", "off"] = Field(
        "redirect",
        description="Plain HTTP on http_port: `redirect` sends GET/HEAD without credentials to "
        "HTTPS (301) and refuses anything else (403, so an API client that sent a token in "
        "clear learns it at once); `off`: nothing listens there.",
    )
    http_port: int = Field(80, ge=1, le=65535)
    listen_addresses: list[str] = Field(
        default_factory=lambda: ["0.0.0.0"],  # noqa: S104 - the firewall guards the ports
        description="Addresses the edge listens on (the firewall decides who reaches them); "
        "add '::' for IPv6.",
    )
    server_names: list[str] = Field(
        default_factory=list,
        description="DNS names the edge answers to; they go into its certificate too.",
    )
    hsts_max_age_s: int = Field(
        31_536_000, ge=0, le=2 * 31_536_000, description="Strict-Transport-Security max-age."
    )
    connect_timeout_s: int = Field(5, ge=1, le=60, description="To the agent.")
    read_timeout_s: int = Field(
        60, ge=1, le=3600, description="Longest wait for the agent's answer (and for a send)."
    )
    client_timeout_s: int = Field(
        15, ge=1, le=300, description="Longest wait for a client's headers or body."
    )
    upstream_keepalive: int = Field(
        32, ge=1, le=1024, description="Idle keep-alive connections to the agent per worker."
    )
    health_cache_s: int = Field(
        1,
        ge=0,
        le=10,
        description="Seconds the edge answers the anonymous `GET /health` from its last healthy "
        "(200) answer, refreshed in the background: balancers and anonymous floods then cost the "
        "agent one request a second. An unhealthy (503) answer is never cached. 0: every "
        "request reaches the agent.",
    )

    @field_validator("listen_addresses")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("at least one address")
        for item in value:
            ipaddress.ip_address(item)
        return value

    @field_validator("server_names")
    @classmethod
    def _names(cls, value: list[str]) -> list[str]:
        for item in check_sans(value):
            try:
                ipaddress.ip_address(item)
            except ValueError:
                continue
            raise ValueError(f"{item!r}: an address, not a DNS name (pki.extra_sans takes IPs)")
        return value

    @model_validator(mode="after")
    def _ports(self) -> Self:
        if self.http == "redirect" and self.http_port == self.port:
            raise ValueError("http_port and port must differ")
        return self

    @property
    def ports(self) -> list[int]:
        """The TCP ports the edge listens on (the firewall opens them)."""
        return [self.port, *([self.http_port] if self.http == "redirect" else [])]
