"""The audit log, as GET /api/activity shows it."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class ActivityRecord(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    seq: int = Field(description="Position in the chain; the cursor counts down from here.")
    ts: float = Field(description="Unix time.")
    actor: str = Field(description="Token name, anonymous, cli:USER or agent.")
    action: str = Field(description="e.g. token.create, auth.failure, POST /api/…")
    target: str
    source: str = Field(description="Client address (behind a trusted proxy: the client's).")
    outcome: Literal["success", "failure", "denied", "error"]
    status: int | None = Field(description="HTTP status, when a request.")
    request_id: str
    detail: dict[str, Any]
    prev_hash: str
    hash: str


class ActivityOut(BaseModel):
    records: list[ActivityRecord] = Field(description="Newest first.")
    next_cursor: int | None = Field(description="Pass as ?cursor= for the next page; null: end.")
