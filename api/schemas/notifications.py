"""Bodies of /api/notifications."""

from __future__ import annotations

from typing import Any
from zoneinfo import available_timezones

from pydantic import BaseModel, ConfigDict, Field, JsonValue, field_validator

from appliance.notifications.models import KINDS, Severity, Status

NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$"
IDEMPOTENCY_KEY = r"^[A-Za-z0-9._:-]{1,200}$"
ZONES: list[JsonValue] = list(sorted(available_timezones()))
TEMPLATE_NAME = r"^[a-z0-9][a-z0-9_.-]{0,62}$"
HHMM = r"^([01]\d|2[0-3]):[0-5]\d$"


class NotifyIn(BaseModel):
    """The spec's body: ``{"user_id", "type", "channel", "subject", "message", "to"}``;
    ``channel`` may be left out (then the user's preferences choose)."""

    model_config = ConfigDict(extra="forbid")

    user_id: str = Field(min_length=1, max_length=200)
    type: str = Field(default="info", min_length=1, max_length=64, description="Free label.")
    channel: str | None = Field(default=None, pattern=NAME, description="A channel's name.")
    # Bounded so that any valid body fits the agent's 64 KiB body limit, even \u-escaped.
    subject: str = Field(default="", max_length=500)
    message: str = Field(default="", max_length=8000)
    to: str | None = Field(
        default=None, max_length=500, description="Recipient; default: the channel's own."
    )
    severity: Severity = Severity.INFO
    template: str | None = Field(
        default=None, pattern=TEMPLATE_NAME, description="A template's name (GET …/templates)."
    )
    data: dict[str, str | int | float | bool] = Field(
        default_factory=dict, max_length=100, description="The template's variables."
    )


class NotifyOut(BaseModel):
    id: int = Field(description="The first notification written (one per channel).")
    ids: list[int]
    status: str = Field(description="`accepted`, or `duplicate` for a repeated idempotency key.")


class ChannelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME)
    kind: str = Field(description="One of: " + ", ".join(KINDS))
    options: dict[str, str | int | bool] = Field(
        default_factory=dict, description="Non-secret options (no credentials)."
    )
    secret: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9/._-]{0,200}$",
        description="Name of the secret (Vault KV) holding the credentials.",
    )
    enabled: bool = Field(default=True, strict=True)


class ChannelOut(BaseModel):
    name: str
    kind: str
    options: dict[str, Any]
    secret: str | None = Field(description="The secret's name; its values are never shown.")
    enabled: bool
    created_at: float
    updated_at: float
    declared: bool = Field(
        description="Declared in the inventory: the API may not change or delete it (409)."
    )


class ChannelsOut(BaseModel):
    channels: list[ChannelOut]


class AttemptOut(BaseModel):
    ts: float
    channel: str
    outcome: str
    error: str | None
    duration_ms: float


class NotificationOut(BaseModel):
    id: int
    user_id: str
    type: str
    channel: str
    to: str | None
    severity: Severity
    subject: str
    message: str
    status: Status
    created_at: float
    next_attempt_at: float
    attempt_count: int
    delivered_at: float | None
    last_error: str | None
    created_by: str
    attempts: list[AttemptOut]


class NotificationsOut(BaseModel):
    notifications: list[NotificationOut]
    next_cursor: int | None


class PreferenceIn(BaseModel):
    """The spec's body ``{"user_id", "channel", "enabled"}``, plus address, minimum severity
    and quiet hours."""

    model_config = ConfigDict(extra="forbid")

    user_id: str = Field(min_length=1, max_length=200)
    channel: str = Field(pattern=NAME)
    enabled: bool = Field(default=True, strict=True)
    address: str | None = Field(default=None, max_length=500)
    min_severity: Severity = Severity.INFO
    quiet_start: str | None = Field(default=None, pattern=HHMM, description="HH:MM, local.")
    quiet_end: str | None = Field(default=None, pattern=HHMM, description="HH:MM, local.")
    timezone: str = Field(
        default="UTC",
        description="IANA time zone of the quiet hours.",
        json_schema_extra={"enum": ZONES},
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        if value not in ZONES:
            raise ValueError(f"unknown time zone {value!r}")
        return value


class PreferenceOut(BaseModel):
    user_id: str
    channel: str
    enabled: bool
    address: str | None
    min_severity: Severity
    quiet_start: str | None
    quiet_end: str | None
    timezone: str
    updated_at: float


class PreferencesOut(BaseModel):
    user_id: str
    preferences: list[PreferenceOut]


class TemplateIn(BaseModel):
    """Jinja2 sources (sandboxed). ``text`` is the plain rendering; ``markdown`` is for chat
    channels, ``html`` for email (with ``text`` beside it), ``sms`` for SMS (cut to 160)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=TEMPLATE_NAME)
    # Bounded so that any valid body fits the agent's 64 KiB body limit, even \u-escaped.
    subject: str = Field(max_length=300)
    text: str = Field(max_length=2500)
    markdown: str | None = Field(default=None, max_length=2500)
    html: str | None = Field(default=None, max_length=4000)
    sms: str | None = Field(default=None, max_length=400)


class TemplateOut(TemplateIn):
    predefined: bool


class TemplatesOut(BaseModel):
    templates: list[TemplateOut]
