"""Event bus settings; the agent's main Settings will embed this model as a nested table."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator


class EventBusSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    bootstrap_servers: str = Field(
        default="127.0.0.1:9092", min_length=1, description="host:port[,host:port…]"
    )
    outbox_path: Path = Field(
        default=Path("/var/lib/sovereign/events.db"),
        description="SQLite file holding the outbox and the consumer dedupe window.",
    )
    outbox_synchronous: Literal["FULL", "NORMAL"] = Field(
        default="FULL",
        description="FULL survives power loss; NORMAL (WAL) only survives a process crash.",
    )
    client_id: str = Field(default="sovereign-agent", min_length=1)
    group_id: str = Field(default="sovereign-agent", min_length=1)
    security_protocol: Literal["plaintext", "ssl", "sasl_plaintext", "sasl_ssl"] = "plaintext"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    # Topics are created on first use when the broker does not auto-create them.
    create_topics: bool = True
    topic_partitions: int = Field(default=3, ge=1, le=10_000)
    topic_replication_factor: int = Field(default=1, ge=1, le=32)
    linger_ms: int = Field(
        default=10,
        ge=0,
        le=10_000,
        description="How long the forwarder's producer gathers events into one request. Fewer, "
        "larger requests keep the broker's tail short: on Tansu at 2,000 ev/s publish-to-handler "
        "p99 35-42 ms at 10 against 39-49 at librdkafka's 5 and 106-121 at 1 "
        "(bench/eventbus_latency.py); a lone event waits up to this long.",
    )
    # Some brokers (tansu) hold every fetch this long even when data is waiting: it bounds
    # publish→handler latency there; on Kafka it only sets how often idle consumers ask.
    fetch_wait_max_ms: int = Field(default=20, ge=0, le=60_000)
    session_timeout_ms: int = Field(default=10_000, ge=1000, le=3_600_000)
    metadata_timeout_s: float = Field(default=2.0, gt=0, le=120)
    # No delivery report for this long while messages are in flight means the producer is stuck
    # (broker gone, or back with no memory of our producer id): discard it and re-send.
    stall_timeout_s: float = Field(default=10.0, gt=0, le=3600)
    backoff_initial_s: float = Field(default=0.1, gt=0, le=60)
    backoff_max_s: float = Field(default=5.0, gt=0, le=3600)
    idle_poll_s: float = Field(default=0.5, gt=0, le=60, description="Outbox re-scan when idle.")
    max_in_flight: int = Field(default=1000, ge=1, le=1_000_000)
    handler_max_attempts: int = Field(
        default=5, ge=1, le=1000, description="Then the event is parked as a dead letter."
    )
    consume_batch: int = Field(
        default=500,
        ge=1,
        le=100_000,
        description="Most events a consumer handles per dedupe transaction and offset commit.",
    )
    dedupe_window: int = Field(
        default=100_000, ge=1, description="Event ids remembered per consumer group."
    )
    delivered_retention_s: float = Field(
        default=24 * 3600.0, ge=0, description="Delivered outbox rows kept for inspection."
    )

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.backoff_initial_s > self.backoff_max_s:
            raise ValueError("backoff_initial_s must not exceed backoff_max_s")
        if self.security_protocol.startswith("sasl_") and (
            self.sasl_mechanism is None or self.sasl_username is None or self.sasl_password is None
        ):
            raise ValueError(
                f"security_protocol {self.security_protocol} needs sasl_mechanism, "
                "sasl_username and sasl_password"
            )
        return self

    def client_config(self) -> dict[str, str | int | float | bool]:
        """librdkafka settings shared by producer, consumer and admin client.

        Holds the SASL password in clear: hand it to the client, never to a logger.
        """
        config: dict[str, str | int | float | bool] = {
            "bootstrap.servers": self.bootstrap_servers,
            "client.id": self.client_id,
            "security.protocol": self.security_protocol,
        }
        if self.sasl_mechanism is not None:
            config["sasl.mechanism"] = self.sasl_mechanism
        if self.sasl_username is not None:
            config["sasl.username"] = self.sasl_username
        if self.sasl_password is not None:
            config["sasl.password"] = self.sasl_password.get_secret_value()
        return config

    @property
    def description(self) -> str:
        """Safe to log: no credentials."""
        auth = f" sasl={self.sasl_mechanism}:{self.sasl_username}" if self.sasl_mechanism else ""
        return (
            f"kafka={self.bootstrap_servers} ({self.security_protocol}{auth}) "
            f"outbox={self.outbox_path} group={self.group_id}"
        )
