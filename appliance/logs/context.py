"""Who and which request a log record belongs to: set by the API for each request (its
request id, the token's name once authenticated), read by the journal handler, so the
agent's lines in the journal carry REQUEST_ID and USER fields (journalctl REQUEST_ID=…)."""

from __future__ import annotations

from contextvars import ContextVar

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
user: ContextVar[str | None] = ContextVar("user", default=None)
