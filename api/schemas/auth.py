"""Tokens, step-up and TOTP enrolment."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from appliance.security.roles import Role

TOKEN_NAME = r"^[A-Za-z0-9_@-][A-Za-z0-9_.@-]{0,63}$"  # noqa: S105 - a pattern


class TokenOut(BaseModel):
    """A token's record; never its secret."""

    model_config = ConfigDict(from_attributes=True)

    id: str = Field(description="Stable id, e.g. t_1a2b3c4d5e6f.")
    name: str = Field(description="Unique among active tokens; also the TOTP principal.")
    role: Role
    state: str = Field(description="active, expired or revoked.")
    created_at: float = Field(description="Unix time.")
    created_by: str = Field(description="Who made it: a token's name, or cli:USER on the host.")
    last_used_at: float | None = Field(description="Unix time, written at most once a minute.")
    expires_at: float | None = Field(description="Unix time; null: never.")
    revoked_at: float | None


class TokensOut(BaseModel):
    tokens: list[TokenOut]


class TokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=TOKEN_NAME, description="1-64 of letters, digits, _ - . @")
    role: Role
    expires_in_days: int | None = Field(
        default=None, ge=1, le=3650, description="Days until it expires; null: never."
    )


class TokenCreated(BaseModel):
    token: str = Field(description="The token: shown this once, stored only as a hash.")
    info: TokenOut


class WhoAmI(BaseModel):
    name: str
    role: Role
    token_id: str | None = Field(description="Null for a request from a scrape network.")
    expires_at: float | None
    step_up_available: bool = Field(description="Whether [totp] is configured on this agent.")


class StepUpIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(pattern=r"^[0-9]{6,8}$", description="A current TOTP code.")


class StepUpOut(BaseModel):
    grant: str = Field(description="Send as X-Step-Up with this token; shown once.")
    expires_at: float


class TotpEnrolIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    principal: str = Field(pattern=TOKEN_NAME, description="A token name.")
    replace: bool = Field(
        default=False, description="Renew an existing enrolment (needs a step-up)."
    )


class TotpEnrolOut(BaseModel):
    principal: str
    provisioning_uri: str = Field(
        description="otpauth:// URI with the seed, for an authenticator app: shown once."
    )
