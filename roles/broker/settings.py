"""Settings of the broker role (host data key `broker`)."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from roles.settings import check_ip, listen_address_or_host_ip

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
        None, description="IP to listen on; the host's ssh_hostname when that is an IP."
    )
    port: int = Field(9092, ge=1024, le=65535)
    topics: list[Topic] = Field(default_factory=lambda: list(DEFAULT_TOPICS))
    redpanda_data_dir: str = Field("/var/lib/redpanda/data", description="Redpanda data.")
    redpanda_source: Literal["apt", "artifact"] = Field(
        "apt", description="Vendor apt repository, or the `redpanda.deb` artifact (air-gapped)."
    )

    @field_validator("listen_address")
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
    return listen_address_or_host_ip("broker", cfg.listen_address, ssh_hostname)
