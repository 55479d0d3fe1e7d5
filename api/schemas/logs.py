"""Bodies of the log endpoints."""

from __future__ import annotations

from pydantic import BaseModel, Field


class LogEntryOut(BaseModel):
    cursor: str = Field(description="The entry's journal cursor.")
    time: float = Field(description="Unix time the entry was written.")
    level: str = Field(description="Syslog priority: emergency … debug.")
    unit: str | None = Field(description="The systemd unit that wrote it.")
    identifier: str | None = Field(description="Its syslog identifier (the program).")
    pid: int | None
    host: str | None
    message: str = Field(description="The message, secrets and personal data masked.")
    request_id: str | None = Field(
        default=None, description="The agent's lines: the request (X-Request-ID) it served."
    )
    user: str | None = Field(default=None, description="The agent's lines: the token's name.")


class LogsOut(BaseModel):
    entries: list[LogEntryOut] = Field(description="Newest first.")
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the older entries that follow; null at the end."
    )
    complete: bool = Field(
        description="False when the request's time budget ran out first: the page holds what "
        "was found, and `next_cursor` (when any entry was found) goes on from there."
    )
    elapsed_ms: float
