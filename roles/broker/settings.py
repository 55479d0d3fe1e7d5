"""Settings of the broker role (host data key `broker`)."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from roles.settings import check_ip, host_ip

LOOPBACK = "127.0.0.1"

TOPIC_RE = re.compile(r"^[a-zA-Z0-9._-]{1,249}$")


class Topic(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="Kafka topic name: letters, digits, '.', '_', '-'.")
    partitions: int = Field(3, ge=1, le=1000)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not TOPIC_RE.match(value) or value in (".", ".."):
            raise ValueError("must be 1-249 of [a-zA-Z0-9._-] and not '.' or '..'")
        return value


DEFAULT_TOPICS = [
    Topic(name="sovereign.alerts", partitions=3),
    Topic(name="sovereign.storage", partitions=3),
    Topic(name="sovereign.sync", partitions=3),
]


class BrokerSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    flavour: Literal["redpanda", "tansu"] = Field(
        "redpanda", description="redpanda (production) or tansu (from the artifact cache)."
    )
    listen_address: str | None = Field(
        None,
        description="IP of the broker's local listener: 127.0.0.1 by default (the agent and "
        "tools on the host; nothing else can reach it). Another address exposes an "
        "unauthenticated Kafka API: the firewall keeps its port closed unless `firewall.allow` "
        "opens it.",
    )
    peer_address: str | None = Field(
        None,
        description="Redpanda with declared `peers`: IP of the listener the peers use "
        "(SASL/SCRAM over TLS, certificate from the appliance CA) and of the RPC server; "
        "default the host's ssh_hostname when that is an IP.",
    )
    port: int = Field(9092, ge=1024, le=65535)
    topics: list[Topic] = Field(default_factory=lambda: list(DEFAULT_TOPICS))
    redpanda_data_dir: str = Field("/var/lib/redpanda/data", description="Redpanda data.")
    redpanda_source: Literal["apt", "artifact"] = Field(
        "apt", description="Vendor apt repository, or the `redpanda.deb` artifact (air-gapped)."
    )

    @field_validator("listen_address", "peer_address")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        return check_ip(value)

    @field_validator("topics")
    @classmethod
    def _unique(cls, topics: list[Topic]) -> list[Topic]:
        names = [t.name for t in topics]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"topic(s) declared twice: {dupes}")
        return topics


def resolve_listen_address(cfg: BrokerSettings, ssh_hostname: str | None) -> str:
    """The local listener's address (the agent's bootstrap server): loopback by default."""
    del ssh_hostname  # the host's address is for peers only
    return cfg.listen_address or LOOPBACK


def resolve_peer_address(cfg: BrokerSettings, ssh_hostname: str | None) -> str:
    """The peers' listener address (Redpanda with peers); raises naming the field."""
    address = cfg.peer_address or host_ip(ssh_hostname)
    if address is None:
        raise ValueError(
            "broker.peer_address: required with peers when the host's ssh_hostname is not an "
            "IP address"
        )
    return address


def check_peers(cfg: BrokerSettings, peers: list[str], ssh_hostname: str | None) -> None:
    """Peers need a broker that authenticates them: Redpanda with SASL/SCRAM over TLS."""
    if not peers:
        return
    if cfg.flavour != "redpanda":
        raise ValueError(
            "broker.flavour: peers are declared, but tansu has no SASL or TLS here: use "
            "redpanda (or declare no peers; tansu stays on loopback)"
        )
    resolve_peer_address(cfg, ssh_hostname)
