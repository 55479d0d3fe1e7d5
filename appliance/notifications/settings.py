"""``[notifications]``: the delivery worker's pace, retries, breaker and dead letter."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class NotificationSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(default=True, description="Run the delivery worker in the agent.")
    poll_interval_s: float = Field(
        default=0.2, gt=0, le=60, description="How often the worker looks for due notifications."
    )
    batch: int = Field(default=100, ge=1, le=1000, description="Notifications claimed per look.")
    concurrency: int = Field(default=8, ge=1, le=64, description="Deliveries in flight at once.")
    lease_s: float = Field(
        default=60.0,
        gt=0,
        description="A claimed notification is another worker's again after this long.",
    )
    backoff_base_s: float = Field(default=1.0, gt=0, description="First retry delay (doubles).")
    backoff_max_s: float = Field(default=300.0, gt=0, description="Longest retry delay.")
    dead_after_s: float = Field(
        default=86_400.0,
        gt=0,
        description="A notification still failing this long after it was made is dead-lettered.",
    )
    breaker_failures: int = Field(
        default=5, ge=1, description="Failures in a row that open a channel's circuit breaker."
    )
    breaker_cooldown_s: float = Field(
        default=30.0, gt=0, description="How long an open breaker holds a channel's deliveries."
    )
    send_timeout_s: float = Field(default=30.0, gt=0, description="Apprise's socket timeouts.")
    internal_user: str = Field(
        default="admin", min_length=1, description="Who receives the agent's own notifications."
    )
    internal_channel: str | None = Field(
        default=None, description="The channel the agent's own notifications (dead letters) go to."
    )
    ws_queue_size: int = Field(
        default=256,
        ge=1,
        description="Notifications a WebSocket client may fall behind by before it is dropped "
        "(it reconnects with its last id and reads the rest from the database).",
    )
    ws_heartbeat_s: float = Field(
        default=15.0, gt=0, description="A heartbeat message on every idle WebSocket this often."
    )
