"""``[notifications]``: the delivery worker's pace, retries, breaker and dead letter, and the
channels the inventory declares (``channels``; the agent upserts them at start)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from appliance.notifications.channels import ChannelError, validate
from appliance.notifications.models import Channel
from appliance.secrets.names import check_secret_name

#: A channel's name, as the API accepts it.
CHANNEL_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$"
ChannelKind = Literal[
    "email", "slack", "teams", "pagerduty", "twilio", "webhook", "ntfy", "gotify", "matrix"
]


class DeclaredChannel(BaseModel):
    """A channel the configuration declares: its options are not secret; its credentials are
    in the secret it names (e.g. ``agent/notify/pager`` in the agent's Vault KV)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=CHANNEL_NAME, description="The channel's name (notify's `channel`).")
    kind: ChannelKind = Field(description="The Apprise service it delivers through.")
    options: dict[str, str | int | bool] = Field(
        default_factory=dict, description="Non-secret options (channels.py lists them per kind)."
    )
    secret: str | None = Field(
        default=None, description="Name of the secret holding the credentials (never values)."
    )
    enabled: bool = True

    @field_validator("secret")
    @classmethod
    def _secret_name(cls, value: str | None) -> str | None:
        return None if value is None else check_secret_name(value)

    @model_validator(mode="after")
    def _usable(self) -> Self:
        try:
            validate(self.channel())
        except ChannelError as exc:
            raise ValueError(str(exc)) from None
        return self

    def channel(self) -> Channel:
        return Channel(
            self.name, self.kind, dict(self.options), self.secret, self.enabled, declared=True
        )


class NotificationSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(default=True, description="Run the delivery worker in the agent.")
    worker_process: bool = Field(
        default=True,
        description="Run the delivery worker in a child process of the agent (sovereign-agent "
        "only; an agent built in-process, as in tests, keeps it in a thread): sends then "
        "never hold up the API's requests (appliance/notifications/deliverer.py).",
    )
    worker_nice: int = Field(
        default=10,
        ge=0,
        le=19,
        description="How far below the agent the delivery process runs (its nice increment; "
        "it also asks the kernel to treat it as batch work, SCHED_BATCH): sending is "
        "background work, so the requests win the cores while it waits (0: as the agent, "
        "neither).",
    )
    poll_interval_s: float = Field(
        default=0.2, gt=0, le=60, description="How often the worker looks for due notifications."
    )
    batch: int = Field(default=100, ge=1, le=1000, description="Notifications claimed per look.")
    linger_s: float = Field(
        default=0.05,
        ge=0,
        le=5,
        description="Woken by a notify, the worker waits this long for more before it claims: "
        "at a steady trickle one claim and one commit carry several notifications instead of "
        "one each (delivery starts up to this much later; 0: claim at once).",
    )
    concurrency: int = Field(
        default=16,
        ge=1,
        le=64,
        description="Deliveries in flight at once (sent, or sent and awaiting the commit of "
        "their outcome: also the most a crash can send twice).",
    )
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
    ca_bundle: Path | None = Field(
        default=None,
        description="A PEM bundle of the CAs the channels trust (HTTPS and SMTP TLS), instead "
        "of the list bundled with requests (certifi) and Python's default, e.g. "
        "/etc/ssl/certs/ca-certificates.crt: the system store with your own CAs "
        "(update-ca-certificates), for a relay or webhook behind a private CA. It is set for "
        "the whole agent process (REQUESTS_CA_BUNDLE, SSL_CERT_FILE).",
    )
    channels: list[DeclaredChannel] = Field(
        default_factory=list,
        description="Channels declared by the deploy (inventory `agent.notifications.channels`): "
        "created or replaced at start, and the API may not change them; one no longer declared "
        "is deleted once the notifications it owes are delivered or dead; channels made "
        "through the API are left alone.",
    )

    @field_validator("ca_bundle")
    @classmethod
    def _absolute(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_absolute():
            raise ValueError("must be an absolute path on the host")
        return value

    @field_validator("channels")
    @classmethod
    def _unique(cls, value: list[DeclaredChannel]) -> list[DeclaredChannel]:
        names = [c.name for c in value]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"channel name(s) declared twice: {', '.join(twice)}")
        return value
