"""TOTP settings: the ``[totp]`` table of the agent's config (the service: appliance/totp.py)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class TotpSettings(BaseModel):
    """TOTP (RFC 6238) second factor for privileged operations."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    issuer: str = Field(default="Sovereign Appliance", min_length=1, max_length=64)
    digits: int = Field(default=6, ge=6, le=8)
    period: int = Field(default=30, ge=15, le=300, description="Seconds per time step.")
    valid_window: int = Field(
        default=1, ge=0, le=10, description="Steps of clock drift accepted either side of now."
    )
