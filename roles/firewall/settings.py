"""Settings of the host firewall role (host data key `firewall`): nftables, inbound default drop.

Always open: loopback, replies to connections the host made, the ICMP a network needs, SSH (from
`admin_networks`), the edge's ports. Open to declared `peers` (top-level key): Vault's API and
cluster ports, the broker's (Redpanda). Open to PostgreSQL's declared networks: its port (TLS
only, pg_hba says so). Anything else only through `allow`.
"""

from __future__ import annotations

import ipaddress
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

EVERYWHERE = ["0.0.0.0/0", "::/0"]


def networks(value: list[str]) -> list[str]:
    """Field validator body: addresses or networks (CIDR), normalised."""
    checked = []
    for item in value:
        try:
            checked.append(str(ipaddress.ip_network(item, strict=False)))
        except ValueError:
            raise ValueError(f"{item!r} is not an address or network (CIDR)") from None
    return checked


class Opening(BaseModel):
    """One more inbound port, from some sources."""

    model_config = ConfigDict(extra="forbid")

    port: int = Field(ge=1, le=65535)
    protocol: Literal["tcp", "udp"] = "tcp"
    sources: list[str] = Field(
        default_factory=lambda: list(EVERYWHERE),
        description="Addresses or networks (CIDR) allowed; default anywhere.",
    )
    comment: str = Field("", max_length=64, pattern=r"^[A-Za-z0-9 ._,:/()-]*$")

    @field_validator("sources")
    @classmethod
    def _sources(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("at least one address or network (an opening from nowhere is none)")
        return networks(value)


class FirewallSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(
        True, description="Manage the host firewall (nftables table `inet sovereign`)."
    )
    admin_networks: list[str] | None = Field(
        None,
        description="Addresses or networks (CIDR) SSH is open to. Unset: anywhere, with a "
        "warning on every deploy. An empty list is refused: it would drop SSH from everywhere.",
    )
    allow: list[Opening] = Field(default_factory=list, description="More inbound openings.")

    @field_validator("admin_networks")
    @classmethod
    def _admin(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        if not value:
            raise ValueError(
                "empty: SSH would be dropped from everywhere and the deploy locked out; "
                "name the operators' networks, or leave it unset for anywhere"
            )
        return networks(value)
